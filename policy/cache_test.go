package policy

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/invgen"
	"github.com/cairnops/cairn/inventory"
)

// TestCompiledContextsBounded keeps the policies compiled for the last few
// cue.Contexts only, so that recycling contexts during a Load frees memory,
// while every model is still judged.
func TestCompiledContextsBounded(t *testing.T) {
	limit := 2*runtime.GOMAXPROCS(0) + 2
	dir := t.TempDir()
	names, err := invgen.Write(dir, limit+3)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, PoliciesDir), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, PoliciesDir, "all.cue"),
		[]byte("package policy\n\nrules: all: {model: _, deny: [\"card.title: \\(model.card.title)\"]}\n"), 0o644))
	src, err := inventory.OpenWorktree(dir)
	require.NoError(t, err)
	ctx := context.Background()
	p, err := Load(ctx, src)
	require.NoError(t, err)

	// One context per model: each one compiles the policies anew.
	inv, err := inventory.Load(ctx, src, inventory.Options{Workers: 1, Recycle: 1, Visit: p.Visit})
	require.NoError(t, err)
	assert.Len(t, p.compiled, limit)
	assert.Len(t, p.order, limit)
	for _, c := range p.order {
		assert.Contains(t, p.compiled, c)
	}
	got := p.findings(inv)
	require.Len(t, got, len(names))
	for i, f := range got {
		assert.Equal(t, names[i], f.Model)
		assert.Equal(t, "card.title: Synthetic model "+names[i], f.Message)
	}
}
