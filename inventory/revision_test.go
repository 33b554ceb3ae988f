package inventory

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRevisionLinksInsideTheTree: a symbolic link that stays inside the
// tree means at a revision what it means in the work tree (a linked model
// folder, a linked artifact file).
func TestRevisionLinksInsideTheTree(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	writeFiles(t, dir, cleanInventory)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "shared"), 0o755))
	require.NoError(t, os.Rename(filepath.Join(dir, "models", "m"), filepath.Join(dir, "shared", "m")))
	symlink(t, dir, "../shared/m", "models/m")
	symlink(t, dir, "v0.bin", "artifacts/link.bin")
	commitAll(t, repo, "linked")

	work := loadDir(t, dir)
	require.Empty(t, problemLines(work.Problems))
	src, err := Open(t.Context(), dir, "HEAD")
	require.NoError(t, err)
	at, err := Load(t.Context(), src, Options{})
	require.NoError(t, err)
	assert.Empty(t, problemLines(at.Problems), "a link inside the tree resolves at a revision too")
	require.NotNil(t, at.Model("m"))
	assert.True(t, at.Model("m").Valid)
	b, err := src.ReadFile("artifacts/link.bin")
	require.NoError(t, err)
	assert.Equal(t, "weights", string(b))
}

// TestRevisionFolderIsAFile: a revision where models/ or policies/ is a
// file answers with an error, never hangs.
func TestRevisionFolderIsAFile(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	writeFiles(t, dir, map[string]string{"inventory.cue": "package inventory\n", "models": "not a folder", "policies": "nor this"})
	commitAll(t, repo, "files for folders")
	src, err := Open(t.Context(), dir, "HEAD")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := src.FS.(interface {
			ReadDir(string) ([]os.DirEntry, error)
		}).ReadDir("policies")
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not a directory")
	case <-time.After(time.Minute):
		t.Fatal("ReadDir of a file at a revision does not return")
	}
	_, err = Load(t.Context(), src, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "models")
}

// TestSettingsOfAnotherPackage: inventory.cue of another package is
// reported, and its settings are not taken as good.
func TestSettingsOfAnotherPackage(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.cue": "package other\n\nstages: [\"a\"]\n"})
	inv := loadDir(t, dir)
	assert.False(t, inv.SettingsOK)
	assert.Equal(t, []string{` | inventory.cue:1:9: package "other": inventory.cue is package inventory`}, problemLines(inv.Problems))
	assert.Equal(t, []string{"development", "staging", "production"}, inv.Settings.Stages, "the schema's defaults")
}
