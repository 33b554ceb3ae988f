// Package atomicfile replaces a file so that readers, and a restart after a
// crash or power loss, see either its old content or its new content whole:
// the data goes to a temporary file beside it, which is fsynced, renamed over
// the file, and then the folder is fsynced so that the rename itself lasts.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
)

// TempPrefix starts the name of every temporary file Write and WriteRoot
// create beside the file they replace. It is a dot name, which no model or
// version name can be, so that a sweep for leftovers of a crash finds it and
// a listing never takes it for one.
const TempPrefix = ".cairn-tmp-"

// TempName returns a fresh temporary name: TempPrefix and 16 hex digits.
func TempName() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return TempPrefix + hex.EncodeToString(b[:])
}

// Write replaces the file name with data, durably: see the package comment.
// A new file gets perm (before the umask, as with os.WriteFile); the folder
// must exist. On an error the file is unchanged and the temporary file is
// removed. Errors are *fs.PathError or *os.LinkError, which name the path.
func Write(name string, data []byte, perm fs.FileMode) error {
	root, err := os.OpenRoot(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer root.Close()
	return WriteRoot(root, filepath.Base(name), data, perm)
}

// WriteRoot is Write for name inside root, which neither name nor a
// symbolic link can leave.
func WriteRoot(root *os.Root, name string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(name)
	tmp := filepath.Join(dir, TempName())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		_ = root.Remove(tmp)
		return err
	}
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
