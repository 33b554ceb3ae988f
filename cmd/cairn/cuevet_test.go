package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCueVet runs the real `cue vet ./...`, built from cuelang.org/go at the
// version go.mod requires, on examples/quickstart and on what `cairn init`
// writes: both pass, and both check Cairn's schema (the copy in
// cue.mod/pkg), so a misspelt risk tier fails at its line.
func TestCueVet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cue")
	}
	root := repoRoot(t)
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	cue := filepath.Join(t.TempDir(), "cue")
	build := exec.Command(goBin, "build", "-o", cue, "cuelang.org/go/cmd/cue")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	vet := func(t *testing.T, dir string) (string, error) {
		t.Helper()
		cmd := exec.Command(cue, "vet", "./...")
		cmd.Dir = dir
		// No registry: the schema comes from cue.mod/pkg, nothing is fetched.
		cmd.Env = append(os.Environ(), "CUE_REGISTRY=none", "CUE_CACHE_DIR="+t.TempDir())
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		err := cmd.Run()
		return b.String(), err
	}
	misspell := func(t *testing.T, path, from string) {
		t.Helper()
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Contains(t, string(b), from)
		require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), from, strings.Replace(from, "high", "meduim", 1), 1)), 0o644))
	}

	t.Run("quickstart", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "quickstart")
		require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join(root, "examples", "quickstart"))))
		out, err := vet(t, dir)
		require.NoError(t, err, "cue vet ./... on the example:\n%s", out)

		model := filepath.Join(dir, "models", "fraud-detector", "model.cue")
		misspell(t, model, `tier:       "high"`)
		out, err = vet(t, dir)
		require.Error(t, err, "cue vet accepted tier \"meduim\"")
		assert.Contains(t, out, `card.risk.tier: conflicting values "high" and "meduim"`)
		assert.Contains(t, out, "./models/fraud-detector/model.cue:8:", "the error names the line of the misspelt tier")
	})

	t.Run("init", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "inv")
		g := &globalOptions{stdout: io.Discard, stderr: io.Discard}
		require.NoError(t, runInit(context.Background(), &initOptions{globalOptions: g, dir: dir}))
		out, err := vet(t, dir)
		require.NoError(t, err, "cue vet ./... on cairn init's inventory:\n%s", out)

		model := filepath.Join(dir, "models", "example-model", "model.cue")
		b, err := os.ReadFile(model)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(model, bytes.Replace(b, []byte(`tier: "low"`), []byte(`tier: "meduim"`), 1), 0o644))
		out, err = vet(t, dir)
		require.Error(t, err, "cue vet accepted tier \"meduim\"")
		assert.Contains(t, out, "./models/example-model/model.cue:7:")
	})
}
