package inventory

import "golang.org/x/sys/unix"

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
