package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/cairnops/cairn/internal/atomicfile"
)

// tmpPrefix starts the name of every temporary file, directory and symlink
// Cairn creates inside the target, state.json's included: atomicfile's, so
// that one sweep finds them all. Such names are never served: model names
// and versions cannot start with a dot. The next Apply removes leftovers.
const tmpPrefix = atomicfile.TempPrefix

// tmpName returns a fresh temporary name.
func tmpName() string { return atomicfile.TempName() }

// syncDir fsyncs the directory name inside root, making renames and
// removals in it durable.
func syncDir(root *os.Root, name string) error {
	d, err := root.Open(name)
	if err != nil {
		return fmt.Errorf("opening directory %s: %w", name, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", name, err)
	}
	return nil
}

// ctxReader stops a copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// hashFile returns the "sha256:<hex>" digest of the regular file name inside root.
func hashFile(ctx context.Context, root *os.Root, name string) (string, error) {
	f, err := root.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", fmt.Errorf("hashing %s: %w", name, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// readDir lists the directory name inside root; a missing directory is empty.
func readDir(root *os.Root, name string) ([]fs.DirEntry, error) {
	d, err := root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("reading directory %s: %w", name, err)
	}
	return entries, nil
}

// removeLeftovers removes temporary entries in dir that a crashed run left
// behind, except those named in keep.
func removeLeftovers(root *os.Root, dir string, keep map[string]bool) error {
	entries, err := readDir(root, dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) || keep[path.Join(dir, e.Name())] {
			continue
		}
		if err := root.RemoveAll(path.Join(dir, e.Name())); err != nil {
			errs = append(errs, fmt.Errorf("removing leftover %s: %w", path.Join(dir, e.Name()), err))
		}
	}
	return errors.Join(errs...)
}

// exchangeFallback swaps a and b with three renames through a temporary name.
func exchangeFallback(root *os.Root, dir, a, b string) error {
	aside := tmpName()
	if err := root.Rename(path.Join(dir, b), path.Join(dir, aside)); err != nil {
		return fmt.Errorf("moving %s aside: %w", path.Join(dir, b), err)
	}
	if err := root.Rename(path.Join(dir, a), path.Join(dir, b)); err != nil {
		return fmt.Errorf("renaming %s: %w", path.Join(dir, a), err)
	}
	if err := root.Rename(path.Join(dir, aside), path.Join(dir, a)); err != nil {
		return fmt.Errorf("renaming %s: %w", path.Join(dir, aside), err)
	}
	return nil
}
