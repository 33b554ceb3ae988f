package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/inventory"
)

// TestIncrementalLoad checks that loading a commit from the previous one's
// inventory gives what a full load gives, evaluating only changed models
// when nothing but model folders changed.
func TestIncrementalLoad(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(quickstartDir(t))))
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	wt, err := repo.Worktree()
	require.NoError(t, err)
	commit := func(msg string) string {
		require.NoError(t, wt.AddWithOptions(&git.AddOptions{All: true}))
		h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Now()}})
		require.NoError(t, err)
		return h.String()
	}
	write := func(p, s string) { require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644)) }
	base := commit("quick start")

	tests := []struct {
		name        string
		edit        func()
		incremental bool
	}{
		{"one model promoted", func() { write("models/churn-predictor/model.cue", churn(t, "1.5.0")) }, true},
		{"a model made invalid", func() { write("models/churn-predictor/model.cue", churn(t, "9.9.9")) }, true},
		{"a model removed", func() { require.NoError(t, os.RemoveAll(filepath.Join(dir, "models/demand-forecast"))) }, true},
		{"a model added", func() {
			require.NoError(t, os.CopyFS(filepath.Join(dir, "models/demand-forecast-2"), os.DirFS(filepath.Join(quickstartDir(t), "models/demand-forecast"))))
		}, true},
		{"defaults changed", func() { write("models/defaults.cue", "package model\n\ncard: owners: [...string]\n") }, false},
		{"settings changed", func() { write("inventory.cue", "package inventory\n\nstages: [\"development\"]\n") }, false},
	}
	prevRev := base
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			prevSrc, err := inventory.OpenCommit(ctx, repo, dir, prevRev)
			require.NoError(t, err)
			prev, err := inventory.Load(ctx, prevSrc, inventory.Options{})
			require.NoError(t, err)
			tt.edit()
			rev := commit(tt.name)
			prevRev = rev
			src, err := inventory.OpenCommit(ctx, repo, dir, rev)
			require.NoError(t, err)

			_, _, ok, err := modelChanges(prevSrc.Commit, src.Commit)
			require.NoError(t, err)
			assert.Equal(t, tt.incremental, ok)

			got, err := load(ctx, prev, src)
			require.NoError(t, err)
			want, err := inventory.Load(ctx, src, inventory.Options{})
			require.NoError(t, err)
			assert.Equal(t, rev, got.Source.Revision)
			assert.Equal(t, want.Settings, got.Settings)
			assert.Equal(t, want.Problems, got.Problems)
			require.Len(t, got.Models, len(want.Models))
			for i := range want.Models {
				assert.Equal(t, want.Models[i].Name, got.Models[i].Name)
				assert.Equal(t, want.Models[i].Valid, got.Models[i].Valid)
				assert.Equal(t, want.Models[i].Model, got.Models[i].Model, want.Models[i].Name)
			}
		})
	}
}
