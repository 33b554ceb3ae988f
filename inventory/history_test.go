package inventory_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/invgen"
	"github.com/cairnops/cairn/inventory"
)

// defaults gives every model the licence invgen's models leave out.
const defaults = "package model\n\ncard: license: *\"proprietary\" | string\n"

// historyModel is invgen's model m pinning production at prod.
func historyModel(prod string) string {
	m := invgen.Model("m", "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64))
	return strings.Replace(m, `production: "1.1.0"`, "production: "+prod, 1)
}

// historyRepo commits, under prefix of a new repository, an inventory whose
// model m goes from production 1.0.0 through an invalid commit to 1.1.0,
// with commits between that do not touch m, then changes the defaults, and
// returns the inventory's folder.
func historyRepo(t *testing.T, prefix string) string {
	t.Helper()
	root := t.TempDir()
	repo, err := git.PlainInit(root, false)
	require.NoError(t, err)
	wt, err := repo.Worktree()
	require.NoError(t, err)
	when := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	step := func(msg string, files map[string]string) {
		for name, content := range files {
			p := filepath.Join(root, filepath.FromSlash(name))
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		}
		_, err := wt.Add(".")
		require.NoError(t, err)
		when = when.Add(time.Hour)
		sig := &object.Signature{Name: "T", Email: "t@example.com", When: when}
		_, err = wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
		require.NoError(t, err)
	}
	in := func(p string) string { return filepath.ToSlash(filepath.Join(prefix, p)) }
	model := func(prod string) string { return historyModel(strconv.Quote(prod)) }
	step("m 1.0.0", map[string]string{
		in("inventory.cue"):          "package inventory\n",
		in("models/defaults.cue"):    defaults,
		in("models/m/model.cue"):     model("1.0.0"),
		in("models/other/model.cue"): model("1.0.0"),
	})
	step("readme", map[string]string{"README.md": "outside the inventory\n"})
	step("other 1.1.0", map[string]string{in("models/other/model.cue"): model("1.1.0")})
	step("m broken", map[string]string{in("models/m/model.cue"): historyModel("5")})
	step("m 1.1.0", map[string]string{in("models/m/model.cue"): model("1.1.0")})
	step("defaults", map[string]string{in("models/defaults.cue"): defaults + "retired: *false | bool\n"})
	return filepath.Join(root, filepath.FromSlash(prefix))
}

func TestModelHistory(t *testing.T) {
	for _, prefix := range []string{"", "ml", "teams/ml"} {
		dir := historyRepo(t, prefix)
		name := prefix
		if name == "" {
			name = "root"
		}
		src, err := inventory.OpenWorktree(dir)
		require.NoError(t, err)
		for _, c := range []struct {
			name  string
			limit int
			want  []string // "subject production", newest first
		}{
			{"all", 0, []string{"defaults 1.1.0", "m 1.1.0 1.1.0", "m 1.0.0 1.0.0"}},
			{"limit counts passed-over commits", 3, []string{"defaults 1.1.0", "m 1.1.0 1.1.0"}},
			{"limit", 1, []string{"defaults 1.1.0"}},
		} {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				var got []string
				for rev, err := range inventory.ModelHistory(t.Context(), src, "m", c.limit, inventory.Options{}) {
					require.NoError(t, err)
					require.NotNil(t, rev.Model)
					assert.Equal(t, []string{"development", "staging", "production"}, rev.Stages)
					got = append(got, strings.TrimSpace(rev.Commit.Message)+" "+rev.Model.Stages["production"])
				}
				assert.Equal(t, c.want, got)
			})
		}
	}
}

func TestModelHistoryStopsEarly(t *testing.T) {
	src, err := inventory.OpenWorktree(historyRepo(t, "ml"))
	require.NoError(t, err)
	n := 0
	for _, err := range inventory.ModelHistory(t.Context(), src, "m", 0, inventory.Options{}) {
		require.NoError(t, err)
		n++
		break
	}
	assert.Equal(t, 1, n)
}

func TestModelHistoryErrors(t *testing.T) {
	noGit, err := inventory.OpenWorktree(t.TempDir())
	require.NoError(t, err)
	cancelled, err := inventory.OpenWorktree(historyRepo(t, ""))
	require.NoError(t, err)
	for _, c := range []struct {
		name     string
		src      *inventory.Source
		cancel   bool
		want     error
		contains string
	}{
		{name: "not a repository", src: noGit, want: inventory.ErrNotRepository},
		{name: "cancelled", src: cancelled, cancel: true, contains: "reading history of models/m/: context canceled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			if c.cancel {
				var cancel func()
				ctx, cancel = context.WithCancel(ctx)
				cancel()
			}
			var errs []error
			for rev, err := range inventory.ModelHistory(ctx, c.src, "m", 0, inventory.Options{}) {
				assert.Nil(t, rev.Commit)
				errs = append(errs, err)
			}
			require.Len(t, errs, 1)
			if c.want != nil {
				assert.ErrorIs(t, errs[0], c.want)
			}
			assert.Contains(t, errs[0].Error(), c.contains)
		})
	}
}
