package inventory

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cuelang.org/go/cue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/invgen"
)

// TestMain makes the test binary its own evaluation worker, as the cairn
// binary is: Isolation re-executes it with WorkerEnv set.
func TestMain(m *testing.M) {
	if IsWorker() {
		os.Exit(ServeWorker())
	}
	os.Exit(m.Run())
}

// testIsolation re-executes the test binary as the worker.
func testIsolation(t testing.TB, b Budget) *Isolation {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return &Isolation{Command: []string{exe}, Budget: b, TimeHint: "--eval-timeout", MemoryHint: "--eval-memory"}
}

// bomb doubles a string 40 times: 2 TiB if it were let run.
func bomb() string {
	var b strings.Builder
	b.WriteString("package model\n\n_s0: \"ab\"\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "_s%d: _s%d + _s%d\n", i, i-1, i-1)
	}
	b.WriteString("card: title: _s40\n")
	return b.String()
}

// slow is three nested comprehensions of a thousand each: a billion steps.
const slow = `package model

import "list"

_n: len([for a in list.Range(0, 1000, 1) for b in list.Range(0, 1000, 1) for c in list.Range(0, 1000, 1) {a + b + c}])
card: title: "n=\(_n)"
`

// writeFiles writes name -> content under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

// TestIsolatedBudgets gives a memory bomb, a slow model and a bomb in
// inventory.cue one problem each at their file; every other model is
// evaluated as usual.
func TestIsolatedBudgets(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  Problem
	}{
		{"memory", map[string]string{"models/bomb/model.cue": bomb()},
			Problem{Model: "bomb", Pos: Position{File: "models/bomb/model.cue", Line: 1, Column: 1},
				Message: "evaluation passed the memory budget of 256MiB; simplify the model or raise --eval-memory"}},
		{"time", map[string]string{"models/slow/model.cue": slow},
			Problem{Model: "slow", Pos: Position{File: "models/slow/model.cue", Line: 1, Column: 1},
				Message: "evaluation passed the time budget of 2s; simplify the model or raise --eval-timeout"}},
		{"settings", map[string]string{"inventory.cue": strings.Replace(bomb(), "package model", "package inventory", 1)},
			Problem{Pos: Position{File: "inventory.cue", Line: 1, Column: 1},
				Message: "evaluation passed the memory budget of 256MiB; simplify inventory.cue or raise --eval-memory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			names, err := invgen.Write(dir, 3)
			require.NoError(t, err)
			writeFiles(t, dir, tt.files)
			src, err := OpenWorktree(dir)
			require.NoError(t, err)
			// Only the slow model's test bounds time: on a loaded machine
			// a bomb could pass a tight time budget before the memory one.
			budget := Budget{Time: time.Minute, Memory: 256 << 20}
			if tt.name == "time" {
				budget.Time = 2 * time.Second
			}
			inv, err := Load(context.Background(), src, Options{Workers: 2, Isolate: testIsolation(t, budget)})
			require.NoError(t, err)
			assert.Equal(t, []Problem{tt.want}, inv.Problems)
			for _, n := range names {
				m := inv.Model(n)
				require.NotNil(t, m, n)
				assert.True(t, m.Valid, n)
				assert.Equal(t, "2026-10-01", m.Card.Review.LastReviewed, n)
			}
			assert.Equal(t, tt.name != "settings", inv.SettingsOK)
		})
	}
}

// TestIsolatedSameAsInProcess loads the quickstart, a generated inventory
// and one with problems both ways: the inventories must be the same.
func TestIsolatedSameAsInProcess(t *testing.T) {
	gen := t.TempDir()
	writeInventory(t, gen, 30)
	bad := t.TempDir()
	writeInventory(t, bad, 2)
	writeFiles(t, bad, map[string]string{
		"inventory.cue":             "package inventory\n\ntargets: prod: {stage: \"production\", kind: \"local\", path: \"prod\", replicas: 2, ratio: 0.5}\nrules: nope: {}\n",
		"models/syntax/model.cue":   "package model\ncard: {\n",
		"models/missing/model.cue":  "package model\ncard: title: \"t\"\n",
		"models/Bad_Name/model.cue": "package model\n",
		"models/escape/model.cue":   strings.Replace(invgen.Model("escape", "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)), "file://artifacts/v0.bin", "file://../outside.bin", 1),
		"models/empty/README.md":    "no cue here\n",
	})
	for name, dir := range map[string]string{"quickstart": filepath.Join("..", "examples", "quickstart"), "generated": gen, "problems": bad} {
		t.Run(name, func(t *testing.T) {
			src, err := OpenWorktree(dir)
			require.NoError(t, err)
			want, err := Load(context.Background(), src, Options{Recycle: 7})
			require.NoError(t, err)
			got, err := Load(context.Background(), src, Options{Recycle: 7, Isolate: testIsolation(t, Budget{Time: time.Minute, Memory: 1 << 30})})
			require.NoError(t, err)
			assert.Equal(t, want.Problems, got.Problems)
			assert.Equal(t, want.Settings, got.Settings)
			assert.Equal(t, want.SettingsOK, got.SettingsOK)
			assert.Equal(t, want.settingsPos, got.settingsPos)
			require.Len(t, got.Models, len(want.Models))
			for i, w := range want.Models {
				g := got.Models[i]
				assert.Equal(t, w.Name, g.Name)
				assert.Equal(t, w.Dir, g.Dir)
				assert.Equal(t, w.Files, g.Files, w.Name)
				assert.Equal(t, w.Valid, g.Valid, w.Name)
				assert.Equal(t, w.Model, g.Model, w.Name)
				assert.Equal(t, w.Pos("versions", "1.1.0", "artifact", "digest"), g.Pos("versions", "1.1.0", "artifact", "digest"), w.Name)
			}
		})
	}
}

// TestIsolatedCrash: a worker that dies other than by a budget gives each
// model one problem with the one line of its stderr that says why, never
// the dump that follows.
func TestIsolatedCrash(t *testing.T) {
	dir := t.TempDir()
	writeInventory(t, dir, 2)
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	iso := &Isolation{Command: []string{"sh", "-c", "echo 'panic: boom' >&2; echo 'goroutine 1 [running]:' >&2; exit 2"}}
	inv, err := Load(context.Background(), src, Options{Isolate: iso})
	require.NoError(t, err)
	msg := "evaluation failed in a worker process: panic: boom"
	assert.Equal(t, []Problem{
		{Pos: Position{File: "inventory.cue", Line: 1, Column: 1}, Message: msg},
		{Model: "model-00000", Pos: Position{File: "models/model-00000/model.cue", Line: 1, Column: 1}, Message: msg},
		{Model: "model-00001", Pos: Position{File: "models/model-00001/model.cue", Line: 1, Column: 1}, Message: msg},
	}, inv.Problems)
	assert.False(t, inv.SettingsOK)
	assert.Equal(t, []string{"development", "staging", "production"}, inv.Settings.Stages, "schema defaults")
}

// TestIsolatedErrors: a cancelled ctx is Load's error, and so is a Visit
// func, which cannot cross into a worker.
func TestIsolatedErrors(t *testing.T) {
	dir := t.TempDir()
	writeInventory(t, dir, 10)
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	iso := testIsolation(t, Budget{Time: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Load(ctx, src, Options{Isolate: iso})
	assert.ErrorIs(t, err, context.Canceled)
	_, err = Load(context.Background(), src, Options{Isolate: iso, Visit: func(*Model, cue.Value) {}})
	assert.EqualError(t, err, "inventory: Options.Visit cannot run in a worker process; use Options.Visitor")
}

// TestOnStartTellsOfWorkers: OnStart is called for each worker a Load
// starts, and not at all for a Load served from the cache.
func TestOnStartTellsOfWorkers(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	writeFiles(t, dir, cacheFixture)
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	iso := testIsolation(t, Budget{Time: time.Minute, Memory: 1 << 30})
	var starts atomic.Int32
	iso.OnStart = func() { starts.Add(1) }
	opts := Options{Isolate: iso, Cache: &Cache{Dir: cache, Version: "t"}, Workers: 2}
	_, err = Load(t.Context(), src, opts)
	require.NoError(t, err)
	assert.Positive(t, starts.Load(), "a cold load starts workers")
	starts.Store(0)
	_, err = Load(t.Context(), src, opts)
	require.NoError(t, err)
	assert.Zero(t, starts.Load(), "a warm load starts none")
}
