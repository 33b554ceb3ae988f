package remedy_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/remedy"
)

// writeInventory writes an inventory with one model "m" whose model.cue is
// the card and versions of modelCUE followed by stages.
func writeInventory(t *testing.T, dir, stages string, extra map[string]string) {
	t.Helper()
	base := modelCUE("production", "1.1.0", "")
	base = base[:strings.Index(base, "stages: {")]
	files := map[string]string{
		"inventory.cue":      "package inventory\n",
		"models/m/model.cue": base + stages,
	}
	for k, v := range extra {
		files[k] = v
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

func loadDir(t *testing.T, dir string) *inventory.Inventory {
	t.Helper()
	src, err := inventory.Open(t.Context(), dir, "")
	require.NoError(t, err)
	inv, err := inventory.Load(t.Context(), src, inventory.Options{})
	require.NoError(t, err)
	require.Empty(t, inv.Problems)
	return inv
}

func TestPinStage(t *testing.T) {
	tests := []struct {
		name, stages, want, err string
		extra                   map[string]string
	}{
		{
			name:   "block",
			stages: "stages: {\n\tstaging:    \"1.1.0\"\n\tproduction: \"1.1.0\" // \"1.1.0\" is new\n}\n",
			want:   "stages: {\n\tstaging:    \"1.1.0\"\n\tproduction: \"1.0.0\" // \"1.1.0\" is new\n}\n",
		},
		{
			name:   "one line",
			stages: "stages: staging: \"1.1.0\"\nstages: production: \"1.1.0\"\n",
			want:   "stages: staging: \"1.1.0\"\nstages: production: \"1.0.0\"\n",
		},
		{
			name:   "quoted labels",
			stages: "stages: {\"staging\": \"1.1.0\", \"production\": \"1.1.0\"}\n",
			want:   "stages: {\"staging\": \"1.1.0\", \"production\": \"1.0.0\"}\n",
		},
		{
			name:   "pin in another file of the folder",
			stages: "stages: staging: \"1.1.0\"\n",
			extra:  map[string]string{"models/m/stages.cue": "package model\n\n// production\nstages: production: \"1.1.0\"\n"},
			want:   "stages: staging: \"1.1.0\"\n", // model.cue unchanged; checked below
		},
		{
			name:   "interpolated pin",
			stages: "_v: \"1.1.0\"\nstages: {staging: \"1.1.0\", production: _v}\n",
			err:    "no string literal",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeInventory(t, dir, tt.stages, tt.extra)
			inv := loadDir(t, dir)
			file, content, err := remedy.PinStage(t.Context(), inv, "m", "production", "1.0.0", inventory.Options{})
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			if tt.extra != nil {
				assert.Equal(t, "models/m/stages.cue", file)
				assert.Equal(t, "package model\n\n// production\nstages: production: \"1.0.0\"\n", string(content))
				return
			}
			assert.Equal(t, "models/m/model.cue", file)
			assert.True(t, strings.HasSuffix(string(content), tt.want), string(content))
		})
	}

	t.Run("refusals", func(t *testing.T) {
		dir := t.TempDir()
		writeInventory(t, dir, "stages: {staging: \"1.1.0\", production: \"1.1.0\"}\n", nil)
		inv := loadDir(t, dir)
		for _, c := range []struct{ model, stage, version, err string }{
			{"m", "production", "9.9.9", "declares no version 9.9.9"},
			{"m", "canary", "1.0.0", "has no stage canary"},
			{"nope", "production", "1.0.0", "not in the inventory"},
		} {
			_, _, err := remedy.PinStage(t.Context(), inv, c.model, c.stage, c.version, inventory.Options{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.err)
		}
	})
}

func TestPreviousVersion(t *testing.T) {
	// The inventory is the repository, or a folder of it: history is read
	// through the prefix either way.
	for _, prefix := range []string{"", "ml", "teams/ml"} {
		name := prefix
		if name == "" {
			name = "root"
		}
		t.Run(name, func(t *testing.T) { testPreviousVersion(t, prefix) })
	}
}

func testPreviousVersion(t *testing.T, prefix string) {
	root := t.TempDir()
	dir := filepath.Join(root, filepath.FromSlash(prefix))
	repo, err := git.PlainInit(root, false)
	require.NoError(t, err)
	wt, err := repo.Worktree()
	require.NoError(t, err)
	commit := func(stages string) {
		writeInventory(t, dir, stages, nil)
		_, err := wt.Add(".")
		require.NoError(t, err)
		_, err = wt.Commit(stages, &git.CommitOptions{Author: &object.Signature{Name: "T", Email: "t@example.com"}})
		require.NoError(t, err)
	}
	commit("stages: staging: \"1.0.0\"\n")
	inv := loadDir(t, dir)
	_, err = remedy.PreviousVersion(t.Context(), inv, "m", "staging", "1.0.0", inventory.Options{})
	assert.True(t, errors.Is(err, remedy.ErrNoPrevious), "%v", err)

	commit("stages: {staging: \"1.0.0\", production: \"1.0.0\"}\n")
	commit("stages: {staging: \"1.1.0\", production: \"1.0.0\"}\n")
	commit("stages: {staging: \"1.1.0\", production: \"1.1.0\"}\n")
	commit("stages: {staging: \"1.1.0\", production: \"1.1.0\"} // touched\n")
	inv = loadDir(t, dir)
	prev, err := remedy.PreviousVersion(t.Context(), inv, "m", "production", "1.1.0", inventory.Options{})
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", prev.Version)
	head, err := repo.Head()
	require.NoError(t, err)
	c, err := repo.CommitObject(head.Hash())
	require.NoError(t, err)
	parent, err := c.Parent(0) // the 1.1.0 promotion
	require.NoError(t, err)
	grand, err := parent.Parent(0)
	require.NoError(t, err)
	assert.Equal(t, grand.Hash.String(), prev.Commit)
	assert.Equal(t, parent.Committer.When.Unix(), prev.PinnedAt.Unix())

	prev, err = remedy.PreviousVersion(t.Context(), inv, "m", "staging", "1.1.0", inventory.Options{})
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", prev.Version)
}
