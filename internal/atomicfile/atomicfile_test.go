package atomicfile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/atomicfile"
)

// names lists dir, to check that no temporary file is left.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestWrite(t *testing.T) {
	long := strings.Repeat("old content, longer than the new one\n", 100)
	tests := []struct {
		name    string
		old     *string // nil: no file before
		data    string
		wantErr bool
	}{
		{name: "new file", data: "{\"a\":1}\n"},
		{name: "replaces a longer file whole", old: &long, data: "short\n"},
		{name: "empty data", old: &long, data: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			name := filepath.Join(dir, "state.json")
			if tt.old != nil {
				require.NoError(t, os.WriteFile(name, []byte(*tt.old), 0o644))
			}
			require.NoError(t, atomicfile.Write(name, []byte(tt.data), 0o600))
			got, err := os.ReadFile(name)
			require.NoError(t, err)
			assert.Equal(t, tt.data, string(got))
			assert.Equal(t, []string{"state.json"}, names(t, dir))
			if tt.old == nil {
				fi, err := os.Stat(name)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			}
		})
	}
}

func TestWriteFails(t *testing.T) {
	t.Run("no folder", func(t *testing.T) {
		dir := t.TempDir()
		err := atomicfile.Write(filepath.Join(dir, "missing", "state.json"), []byte("x"), 0o644)
		require.Error(t, err)
		assert.Empty(t, names(t, dir))
	})
	t.Run("rename onto a folder", func(t *testing.T) {
		// The data is written and synced, then the rename fails: the
		// folder stays and the temporary file goes.
		dir := t.TempDir()
		name := filepath.Join(dir, "state.json")
		require.NoError(t, os.MkdirAll(filepath.Join(name, "keep"), 0o755))
		err := atomicfile.Write(name, []byte("new"), 0o644)
		require.Error(t, err)
		assert.Equal(t, []string{"state.json"}, names(t, dir))
		assert.Equal(t, []string{"keep"}, names(t, name))
	})
}

func TestWriteRoot(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, ".cairn"), 0o755))
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()

	require.NoError(t, os.WriteFile(filepath.Join(dir, ".cairn", "state.json"), []byte("old old old\n"), 0o644))
	require.NoError(t, atomicfile.WriteRoot(root, ".cairn/state.json", []byte("new\n"), 0o644))
	got, err := os.ReadFile(filepath.Join(dir, ".cairn", "state.json"))
	require.NoError(t, err)
	assert.Equal(t, "new\n", string(got))
	assert.Equal(t, []string{"state.json"}, names(t, filepath.Join(dir, ".cairn")))

	// A name that leaves the root writes nothing outside it.
	outside := filepath.Base(dir) + "-outside"
	err = atomicfile.WriteRoot(root, "../"+outside, []byte("x"), 0o644)
	require.Error(t, err)
	_, err = os.Stat(filepath.Join(filepath.Dir(dir), outside))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestTempName(t *testing.T) {
	a, b := atomicfile.TempName(), atomicfile.TempName()
	assert.True(t, strings.HasPrefix(a, atomicfile.TempPrefix), a)
	assert.Len(t, a, len(atomicfile.TempPrefix)+16)
	assert.NotEqual(t, a, b)
}
