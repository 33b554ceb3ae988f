package inventory

import (
	"context"
	"sync"
	"testing"

	"cuelang.org/go/cue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadContexts evaluates Recycle models in one cue.Context before a
// worker starts a fresh one (64 by default), and gives Visit every valid
// model once.
func TestLoadContexts(t *testing.T) {
	dir := t.TempDir()
	writeInventory(t, dir, 10)
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	tests := []struct {
		name     string
		opts     Options
		contexts int
	}{
		{"default", Options{Workers: 1}, 1},
		{"every 3 models", Options{Workers: 1, Recycle: 3}, 4},
		{"every model", Options{Workers: 1, Recycle: 1}, 10},
		{"more workers than models", Options{Workers: 30, Recycle: 100}, -1},
		{"default workers", Options{Recycle: 100}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			contexts := map[*cue.Context]bool{}
			var visited []string
			tt.opts.Visit = func(m *Model, v cue.Value) {
				mu.Lock()
				defer mu.Unlock()
				contexts[v.Context()] = true
				visited = append(visited, m.Name)
				assert.True(t, m.Valid)
				assert.Equal(t, "onnx", m.Card.Framework, "decoded before Visit")
			}
			inv, err := Load(context.Background(), src, tt.opts)
			require.NoError(t, err)
			require.Empty(t, inv.Problems)
			assert.Len(t, visited, 10)
			assert.ElementsMatch(t, visited, modelNames(inv))
			if tt.contexts > 0 {
				assert.Len(t, contexts, tt.contexts)
			} else {
				assert.LessOrEqual(t, len(contexts), 10)
			}
		})
	}
}

func modelNames(inv *Inventory) []string {
	var out []string
	for _, m := range inv.Models {
		out = append(out, m.Name)
	}
	return out
}

// TestLoadVisitsValidModelsOnly leaves models with problems out of Visit.
func TestLoadVisitsValidModelsOnly(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inventory.cue":       "package inventory\n",
		"models/defaults.cue": licenseDefault,
		"models/a/model.cue":  validModel,
		"models/b/model.cue":  "package model\n\ncard: {\n",
	})
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	var visited []string
	_, err = Load(context.Background(), src, Options{Workers: 1, Visit: func(m *Model, _ cue.Value) { visited = append(visited, m.Name) }})
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, visited)
}
