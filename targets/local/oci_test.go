package local_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/artifact"
	"github.com/cairnops/cairn/internal/registrytest"
	"github.com/cairnops/cairn/targets"
)

// ociModel pushes a ModelKit of layers to reg and returns its desired entry.
func ociModel(t *testing.T, reg *registrytest.Registry, version string, layers ...registrytest.Layer) targets.Model {
	d := reg.Push(t, "acme/fraud", version, layers...)
	return targets.Model{Name: "fraud", Version: version, Artifact: targets.Artifact{
		URI: "oci://" + reg.Host + "/acme/fraud:" + version + "@" + d, Digest: d}}
}

func TestApplyOCI(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.InProcess(t, nil)
	open := artifact.NewOpener(nil, reg.Client).Target()
	tg, dir := newTarget(t)
	m := ociModel(t, reg, "1.0.0",
		registrytest.Layer{Title: "model.safetensors", Data: []byte("weights")},
		registrytest.Layer{Title: "README.md", Data: []byte("# fraud\n"), MediaType: registrytest.ModelKitDocs})

	changes, err := tg.Apply(ctx, "rev1", []targets.Model{m}, open)
	require.NoError(t, err)
	assert.Equal(t, targets.Created, changes[0].Action)
	served := filepath.Join(dir, "fraud", "current")
	b, err := os.ReadFile(filepath.Join(served, "model.safetensors"))
	require.NoError(t, err)
	assert.Equal(t, "weights", string(b))
	b, err = os.ReadFile(filepath.Join(served, "README.md"))
	require.NoError(t, err)
	assert.Equal(t, "# fraud\n", string(b))
	st, err := tg.State(ctx)
	require.NoError(t, err)
	assert.Equal(t, m.Artifact.Digest, st.Models["fraud"].Digest)
	assert.Len(t, st.Models["fraud"].Files, 2)

	// Applying again touches nothing; a changed file is drift, healed.
	changes, err = tg.Apply(ctx, "rev2", []targets.Model{m}, open)
	require.NoError(t, err)
	assert.Equal(t, targets.Unchanged, changes[0].Action)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fraud", "1.0.0", "README.md"), []byte("edited"), 0o644))
	obs, err := tg.Observe(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"1.0.0/README.md"}, obs[0].Corrupt)
	changes, err = tg.Apply(ctx, "rev3", []targets.Model{m}, open)
	require.NoError(t, err)
	assert.Equal(t, targets.Updated, changes[0].Action)
	b, err = os.ReadFile(filepath.Join(served, "README.md"))
	require.NoError(t, err)
	assert.Equal(t, "# fraud\n", string(b))
}

func TestApplyOCIRefusesAndLeavesTheTarget(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.InProcess(t, nil)
	open := artifact.NewOpener(nil, reg.Client).Target()
	good := ociModel(t, reg, "1.0.0", registrytest.Layer{Title: "model.bin", Data: []byte("v1")})
	tests := map[string]targets.Model{
		"unsafe title":    ociModel(t, reg, "2.0.0", registrytest.Layer{Title: "../../escape", Data: []byte("x")}),
		"two same titles": ociModel(t, reg, "2.0.1", registrytest.Layer{Title: "a", Data: []byte("x")}, registrytest.Layer{Title: "a", Data: []byte("y")}),
		"missing manifest": func() targets.Model {
			m := good
			m.Version = "2.0.2"
			m.Artifact.Digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
			m.Artifact.URI = "oci://" + reg.Host + "/acme/fraud@" + m.Artifact.Digest
			return m
		}(),
	}
	for name, bad := range tests {
		t.Run(name, func(t *testing.T) {
			tg, dir := newTarget(t)
			_, err := tg.Apply(ctx, "rev1", []targets.Model{good}, open)
			require.NoError(t, err)
			before := mtimes(t, dir)
			_, err = tg.Apply(ctx, "rev2", []targets.Model{bad}, open)
			require.Error(t, err)
			assert.Equal(t, before, mtimes(t, dir), "the target is untouched")
			assert.Empty(t, leftovers(t, dir))
			assert.NoFileExists(t, filepath.Join(filepath.Dir(dir), "escape"))
		})
	}
}
