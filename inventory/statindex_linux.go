package inventory

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"

	"golang.org/x/sys/unix"
)

const statSupported = true

const (
	statTypeMask    = unix.S_IFMT
	statTypeDir     = unix.S_IFDIR
	statTypeRegular = unix.S_IFREG
	statTypeLink    = unix.S_IFLNK
)

// lstatAt is the file system's record of name under the folder fd, without
// following a final link.
func lstatAt(fd int, name string) (fileStat, bool) {
	var st unix.Stat_t
	for {
		err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fileStat{}, false
		}
		break
	}
	return fileStat{
		dev: uint64(st.Dev), ino: st.Ino, mode: uint64(st.Mode), size: uint64(st.Size),
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}, true
}

// readDirTypes lists the folder fd as getdents(2) gives it: each name with
// its type bits (fs.ModeDir, fs.ModeSymlink, 0 for a regular file), or
// statUnknown where the file system does not say, so that only those need
// an lstat.
func readDirTypes(fd int) ([]string, []fs.FileMode, error) {
	var names []string
	var types []fs.FileMode
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if n <= 0 {
			return names, types, nil
		}
		for b := buf[:n]; len(b) > 0; {
			// struct linux_dirent64: ino, off, reclen, type, name.
			if len(b) < 19 {
				return nil, nil, errDirent
			}
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return nil, nil, errDirent
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			typ := b[18]
			b = b[reclen:]
			if s := string(name); s != "." && s != ".." {
				names = append(names, s)
				types = append(types, direntType(typ))
			}
		}
	}
}

var errDirent = errors.New("reading a folder: malformed directory entry")

func direntType(t uint8) fs.FileMode {
	switch t {
	case unix.DT_DIR:
		return fs.ModeDir
	case unix.DT_LNK:
		return fs.ModeSymlink
	case unix.DT_REG:
		return 0
	}
	return statUnknown
}
