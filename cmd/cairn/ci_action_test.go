package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// repoRoot is the module root, two folders up from this file.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

type actionFile struct {
	Name        string `yaml:"name"`
	Author      string `yaml:"author"`
	Description string `yaml:"description"`
	Branding    struct {
		Icon  string `yaml:"icon"`
		Color string `yaml:"color"`
	} `yaml:"branding"`
	Inputs map[string]struct {
		Description string  `yaml:"description"`
		Required    bool    `yaml:"required"`
		Default     *string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Description string `yaml:"description"`
	} `yaml:"outputs"`
	Runs struct {
		Using      string            `yaml:"using"`
		Image      string            `yaml:"image"`
		Entrypoint string            `yaml:"entrypoint"`
		Env        map[string]string `yaml:"env"`
	} `yaml:"runs"`
}

// TestActionYAML checks action.yml: it parses, every input and output is
// documented, the inputs are the ones cairn ci reads, and it runs the
// Dockerfile.
func TestActionYAML(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "action.yml"))
	require.NoError(t, err)
	var a actionFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&a))

	assert.Equal(t, "Cairn", a.Name)
	assert.NotEmpty(t, a.Description)
	assert.NotEmpty(t, a.Branding.Icon)
	assert.NotEmpty(t, a.Branding.Color)
	assert.Equal(t, "docker", a.Runs.Using)
	assert.Equal(t, "Dockerfile", a.Runs.Image)
	_, err = os.Stat(filepath.Join(root, a.Runs.Image))
	require.NoError(t, err, "runs.image names a file next to action.yml")

	for name, in := range a.Inputs {
		assert.NotEmpty(t, strings.TrimSpace(in.Description), "input %s has no description", name)
		assert.False(t, in.Required, "input %s: every input has a default", name)
		assert.NotNil(t, in.Default, "input %s has no default", name)
	}
	for name, out := range a.Outputs {
		assert.NotEmpty(t, strings.TrimSpace(out.Description), "output %s has no description", name)
	}
	require.Contains(t, a.Inputs, "github-token")
	assert.Equal(t, "${{ github.token }}", *a.Inputs["github-token"].Default)
	for _, o := range []string{"errors", "warnings", "changes", "sarif", "approved"} {
		assert.Contains(t, a.Outputs, o)
	}

	// Each input, set the way the runner passes it (INPUT_ + upper-case
	// name), changes what cairn ci does: none is ignored, none is missing.
	set := map[string]string{
		"command": "plan", "path": "inv", "github-token": "tok", "base": "rel",
		"apply": "true", "trusted-keys": "k.pub", "sarif-file": "x.sarif", "receipt-key": "/etc/cairn/receipt.key", "cache-dir": ".cairn-cache",
	}
	names := make([]string, 0, len(a.Inputs))
	for n := range a.Inputs {
		names = append(names, n)
	}
	assert.ElementsMatch(t, names, keys(set), "action.yml inputs are the ones cairn ci reads")
	def := &ciOptions{}
	require.NoError(t, def.fromEnv(func(string) string { return "" }))
	for name, v := range set {
		o := &ciOptions{}
		env := map[string]string{"INPUT_" + strings.ToUpper(name): v}
		require.NoError(t, o.fromEnv(func(k string) string { return env[k] }))
		assert.NotEqual(t, def, o, "input %s changes nothing", name)
	}

	// The example workflow is YAML that uses the action and the status.
	wf, err := os.ReadFile(filepath.Join(root, "examples", "workflows", "cairn.yml"))
	require.NoError(t, err)
	var w struct {
		On   map[string]any `yaml:"on"`
		Jobs map[string]struct {
			Steps []struct {
				Uses string            `yaml:"uses"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	require.NoError(t, yaml.Unmarshal(wf, &w))
	assert.Contains(t, w.On, "pull_request")
	assert.Contains(t, w.On, "pull_request_review")
	assert.Contains(t, w.On, "push")
	uses := 0
	for _, j := range w.Jobs {
		for _, s := range j.Steps {
			if strings.HasPrefix(s.Uses, "cairnops/cairn@") {
				uses++
				for k := range s.With {
					assert.Contains(t, a.Inputs, k, "the example passes an input action.yml lacks")
				}
			}
		}
	}
	assert.Equal(t, 2, uses)
	assert.Contains(t, string(wf), "cairn/approvals")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// dockerBuild is the Dockerfile's build command; TestStaticBinary runs the
// same one.
const dockerBuild = `RUN CGO_ENABLED=0 go build -ldflags="-s -w" -o /out/cairn ./cmd/cairn`

// TestStaticBinary builds cairn the way the Dockerfile does and runs it
// with an empty environment in a folder holding nothing but itself, as in
// the distroless image: no libc, no git, no HOME.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	root := repoRoot(t)
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	require.NoError(t, err)
	require.Contains(t, string(df), dockerBuild+"\n", "the Dockerfile builds the binary this test checks")
	assert.Contains(t, string(df), `ENTRYPOINT ["cairn", "ci"]`)
	// GitHub requires Docker container actions to run as the default
	// (root) user, so they can write the workspace and the runner's files.
	assert.NotRegexp(t, `(?m)^USER\s`, string(df), "the image runs as the default (root) user")

	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	dir := t.TempDir()
	bin := filepath.Join(dir, "cairn")
	build := exec.Command(goBin, "build", `-ldflags=-s -w`, "-o", bin, "./cmd/cairn")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	f, err := elf.Open(bin)
	require.NoError(t, err)
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "the binary is static: no dynamic loader")
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	assert.Empty(t, libs)
	require.NoError(t, f.Close())

	runIn := func(wd string, args ...string) (stdout, stderr string, code int) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = wd
		cmd.Env = []string{} // empty, not inherited
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return o.String(), e.String(), ee.ExitCode()
		}
		require.NoError(t, err)
		return o.String(), e.String(), 0
	}

	stdout, stderr, code := runIn(dir, "--help")
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "ci ")
	assert.Empty(t, stderr)

	// The action's entry point with no event and no inventory: one line, exit 2.
	_, stderr, code = runIn(dir, "ci")
	assert.Equal(t, exitUsage, code)
	assert.Equal(t, "cairn: no inventory.cue: not a Cairn inventory\n", stderr)

	// A copied example validates.
	inv := filepath.Join(t.TempDir(), "inv")
	require.NoError(t, os.CopyFS(inv, os.DirFS(filepath.Join(root, "examples", "quickstart"))))
	stdout, stderr, code = runIn(dir, "--chdir", inv, "validate")
	assert.Equal(t, 0, code, stderr)
	assert.Regexp(t, `^checked 3 models at worktree: `, stdout)
}
