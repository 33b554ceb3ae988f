//go:build !linux

package inventory

import (
	"errors"
	"io/fs"
)

// Only Linux's file records are read: elsewhere every model folder of the
// work tree is read on each run.
const statSupported = false

const (
	statTypeMask    = 0o170000
	statTypeDir     = 0o040000
	statTypeRegular = 0o100000
	statTypeLink    = 0o120000
)

func lstatAt(int, string) (fileStat, bool) { return fileStat{}, false }

func readDirTypes(int) ([]string, []fs.FileMode, error) { return nil, nil, errors.ErrUnsupported }
