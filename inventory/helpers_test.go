package inventory

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/invgen"
)

// digest0 is a well-formed artifact digest.
var digest0 = "sha256:" + strings.Repeat("0", 64)

// licenseDefault is the models/defaults.cue that validModel needs.
const licenseDefault = "package model\n\ncard: license: *\"proprietary\" | string\n"

// validModel is the source of a valid model that runs in production.
var validModel = invgen.Model("m", digest0, digest0)

// symlink makes the link name (slash path under dir) point at target.
func symlink(t *testing.T, dir, target, name string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.Symlink(target, p))
}

// loadDir loads the working tree at dir with one worker, so that problems
// come in a stable order.
func loadDir(t *testing.T, dir string) *Inventory {
	t.Helper()
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	inv, err := Load(context.Background(), src, Options{Workers: 1})
	require.NoError(t, err)
	return inv
}

// problemLines renders problems as "model | file:line:col: message".
func problemLines(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Model+" | "+p.String())
	}
	return out
}
