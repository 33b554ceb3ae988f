package local

import (
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// exchange atomically swaps the entries a and b of directory dir inside root
// (renameat2 RENAME_EXCHANGE), so that a version directory that is being
// served can be repaired in place. Where the file system refuses the
// exchange it falls back to moving b aside and a into place.
func exchange(root *os.Root, dir, a, b string) error {
	d, err := root.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s: %w", dir, err)
	}
	defer d.Close()
	fd := int(d.Fd())
	err = unix.Renameat2(fd, a, fd, b, unix.RENAME_EXCHANGE)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("exchanging %s and %s: %w", path.Join(dir, a), path.Join(dir, b), err)
	}
	return exchangeFallback(root, dir, a, b)
}
