package inventory

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/schema"
)

func TestLoadQuickstart(t *testing.T) {
	src, err := OpenWorktree(filepath.Join("..", "examples", "quickstart"))
	require.NoError(t, err)
	inv, err := Load(context.Background(), src, Options{})
	require.NoError(t, err)
	assert.Empty(t, inv.Problems)
	require.Len(t, inv.Models, 3)
	fd := inv.Model("fraud-detector")
	require.NotNil(t, fd)
	assert.True(t, fd.Valid)
	assert.Equal(t, "2.3.0", fd.Stages["production"])
	assert.Equal(t, "proprietary", fd.Card.License, "models/defaults.cue applies to every model")
	assert.Equal(t, "default", fd.Monitors["auc"].Source, "schema defaults are filled in")
	assert.Equal(t, "models/fraud-detector/model.cue", fd.Pos("versions", "2.3.0", "artifact", "digest").File)
	assert.Greater(t, fd.Pos("versions", "2.3.0", "artifact", "digest").Line, 1)
	assert.Equal(t, "production", inv.Settings.Targets["prod-local"].Config["path"])
	assert.True(t, inv.SettingsOK)
}

func TestLoadRecyclesContexts(t *testing.T) {
	dir := t.TempDir()
	writeInventory(t, dir, 40)
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	// A context per 3 models must give the same result as one for all.
	a, err := Load(context.Background(), src, Options{Workers: 2, Recycle: 3})
	require.NoError(t, err)
	b, err := Load(context.Background(), src, Options{Workers: 1, Recycle: 1000})
	require.NoError(t, err)
	require.Len(t, a.Models, 40)
	for i := range a.Models {
		assert.Equal(t, b.Models[i].Model, a.Models[i].Model)
		assert.True(t, a.Models[i].Valid)
	}
}

func TestLoadCancelled(t *testing.T) {
	dir := t.TempDir()
	writeInventory(t, dir, 10)
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Load(ctx, src, Options{})
	assert.ErrorIs(t, err, context.Canceled)
}

// TestLoadProgress: Progress is told of every model, the last call with
// done == total.
func TestLoadProgress(t *testing.T) {
	src, err := OpenWorktree(filepath.Join("..", "examples", "quickstart"))
	require.NoError(t, err)
	var calls [][2]int
	inv, err := Load(context.Background(), src, Options{Workers: 2, Progress: func(done, total int) {
		calls = append(calls, [2]int{done, total})
	}})
	require.NoError(t, err)
	require.Empty(t, inv.Problems)
	assert.Equal(t, [][2]int{{1, 3}, {2, 3}, {3, 3}}, calls)
}

// TestNullEntries: a null version or monitor, which the schema refuses, is a
// problem, so that no later step reads an entry that is not there.
func TestNullEntries(t *testing.T) {
	at := Position{File: "models/m/model.cue", Line: 1, Column: 1}
	m := &Model{Name: "m", Model: schema.Model{
		Versions: map[string]*schema.Version{"1.0.0": {}, "2.0.0": nil},
		Monitors: map[string]*schema.Monitor{"a": nil, "b": {}},
	}}
	assert.Equal(t, []string{
		"m | models/m/model.cue:1:1: versions.\"2.0.0\": must be a version, not null",
		"m | models/m/model.cue:1:1: monitors.a: must be a monitor, not null",
	}, problemLines(nullEntries(m, at)))
	m.Versions["2.0.0"], m.Monitors["a"] = &schema.Version{}, &schema.Monitor{}
	assert.Empty(t, nullEntries(m, at))
}
