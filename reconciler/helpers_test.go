package reconciler_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/signing"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// quickstart copies examples/quickstart into a temporary directory and returns it.
func quickstart(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "examples", "quickstart")
	dst := t.TempDir()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
	return dst
}

// edit replaces old with new in dir/file; old must occur.
func edit(t *testing.T, dir, file, old, new string) {
	t.Helper()
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Contains(t, string(b), old, "editing %s", file)
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644))
}

// options returns reconciler options with a fresh target root and state dir.
func options(t *testing.T) reconciler.Options {
	t.Helper()
	d := t.TempDir()
	return reconciler.Options{TargetRoot: filepath.Join(d, "targets"), StateDir: filepath.Join(d, "state"),
		Now: func() time.Time { return now }}
}

// exampleTrust is the trust root of the example's signed production
// version: its public key, as an operator would pass it.
func exampleTrust(t *testing.T) signing.Trust {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	k, err := signing.LoadPublicKey(filepath.Join(filepath.Dir(file), "..", "examples", "quickstart", "keys", "cairn-example.pub"))
	require.NoError(t, err)
	return signing.Trust{Keys: []crypto.PublicKey{k}}
}

// checkAt returns the gate's deployment verdict on the inventory at dir, at
// rev ("" for the working tree), with trust (the example's key when none is
// given).
func checkAt(t *testing.T, dir, rev string, trust ...signing.Trust) *gate.Verdict {
	t.Helper()
	src, err := inventory.Open(context.Background(), dir, rev)
	require.NoError(t, err)
	tr := exampleTrust(t)
	if len(trust) > 0 {
		tr = trust[0]
	}
	v, err := gate.Check(context.Background(), src, gate.Options{Now: now, Trust: tr, Deploy: true})
	require.NoError(t, err)
	return v
}

// loadAt loads the inventory at dir, at rev ("" for the working tree).
func loadAt(t *testing.T, dir, rev string) *inventory.Inventory {
	t.Helper()
	return checkAt(t, dir, rev).Inventory
}

// refusal is why res was refused: its reason and the findings behind it.
func refusal(res *reconciler.Result) string {
	s := res.Refused
	for _, f := range res.Findings {
		s += "\n" + f.String()
	}
	return s
}

// fileDigest returns "sha256:<hex>" of a file.
func fileDigest(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// gitInit makes dir a git repository with its content as the first commit.
func gitInit(t *testing.T, dir string) *git.Repository {
	t.Helper()
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	commit(t, repo, "Ada Lovelace", "initial inventory", now.Add(-72*time.Hour))
	return repo
}

// commit stages every change in the work tree and commits it as author at when.
func commit(t *testing.T, repo *git.Repository, author, msg string, when time.Time) string {
	t.Helper()
	wt, err := repo.Worktree()
	require.NoError(t, err)
	require.NoError(t, wt.AddWithOptions(&git.AddOptions{All: true}))
	email := strings.ToLower(strings.Fields(author)[0]) + "@example.com"
	sig := &object.Signature{Name: author, Email: email, When: when}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
	require.NoError(t, err)
	return h.String()
}
