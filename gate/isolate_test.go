package gate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
)

// TestMain makes the test binary its own evaluation worker.
func TestMain(m *testing.M) {
	if inventory.IsWorker() {
		os.Exit(inventory.ServeWorker())
	}
	os.Exit(m.Run())
}

func isolation(t *testing.T, b inventory.Budget) inventory.Options {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return inventory.Options{Isolate: &inventory.Isolation{Command: []string{exe}, Budget: b}}
}

// TestCheckIsolated: a verdict reached in worker processes is the verdict
// reached in-process, base and organisation rules included.
func TestCheckIsolated(t *testing.T) {
	dir := copyQuickstart(t)
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	commitAll(t, repo, "base")
	head, err := repo.Head()
	require.NoError(t, err)
	edit(t, dir, "models/fraud-detector/model.cue", `"@acme/fraud-ml", `, ``)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "policies", "broken.cue"), []byte("package policy\n\nrules: {\n"), 0o644))

	src, err := inventory.OpenWorktree(dir)
	require.NoError(t, err)
	base, err := inventory.Open(context.Background(), dir, head.Hash().String())
	require.NoError(t, err)
	opts := gate.Options{Now: now, Trust: exampleTrust(t), Base: base, Deploy: true}
	want, err := gate.Check(context.Background(), src, opts)
	require.NoError(t, err)
	opts.Load = isolation(t, inventory.Budget{Time: time.Minute, Memory: 1 << 30})
	got, err := gate.Check(context.Background(), src, opts)
	require.NoError(t, err)
	assert.Equal(t, want.Report, got.Report)
	rules := func(v *gate.Verdict) []string {
		var out []string
		for _, r := range v.Rules {
			out = append(out, fmt.Sprintf("%s %s %s %q", r.ID, r.Severity, r.Source, r.Description))
		}
		return out
	}
	assert.Equal(t, rules(want), rules(got))
	assert.Equal(t, want.Signatures, got.Signatures)
	assert.Len(t, got.Report.Findings, 2)
}

// TestCheckIsolatedBomb: a model that passes the memory budget is refused
// with a finding at its file; the other models are judged as usual.
func TestCheckIsolatedBomb(t *testing.T) {
	dir := copyQuickstart(t)
	var b strings.Builder
	b.WriteString("package model\n\n_s0: \"ab\"\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "_s%d: _s%d + _s%d\n", i, i-1, i-1)
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "models", "bomb"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "models", "bomb", "model.cue"), []byte(b.String()), 0o644))
	v := check(t, dir, gate.Options{Trust: exampleTrust(t), Deploy: true, Load: isolation(t, inventory.Budget{Time: time.Minute, Memory: 256 << 20})})
	assert.Equal(t, []string{"models/bomb/model.cue:1:1: evaluation passed the memory budget of 256MiB; simplify the model (schema)"}, lines(v))
	assert.Error(t, v.Allow())
	assert.Equal(t, 4, v.Report.Models)
	assert.True(t, v.Inventory.Model("fraud-detector").Valid)
}
