package inventory

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary inventory.cue, defaults and model files to Load:
// whatever the bytes, Load returns problems or an error, never panics, and
// every problem names a file inside the inventory.
func FuzzLoad(f *testing.F) {
	quick := filepath.Join("..", "examples", "quickstart")
	settings, err := os.ReadFile(filepath.Join(quick, "inventory.cue"))
	if err != nil {
		f.Fatal(err)
	}
	defaults, err := os.ReadFile(filepath.Join(quick, "models", "defaults.cue"))
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []string{"fraud-detector", "churn-predictor", "demand-forecast"} {
		model, err := os.ReadFile(filepath.Join(quick, "models", m, "model.cue"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(settings, defaults, model)
	}
	f.Add([]byte("package inventory\n"), []byte(""), []byte("package model\ncard: {"))
	f.Add([]byte("package inventory\nstages: 3"), []byte("package model\ncard: _|_"), []byte("package model\nversions: \"x\": 1"))
	f.Add([]byte("package other"), []byte("package model\nimport \"strings\"\nx: strings.Repeat(\"a\", 3)"), []byte("package model\na: b\nb: a\nstages: production: \"9\""))
	f.Add([]byte("package inventory\ntargets: x: {stage: 1}"), []byte("package model\n#D: {a: int}\ncard: #D"), []byte("package model\nversions: \"1.0.0\": artifact: {uri: \"file://../../etc/passwd\", digest: \"sha256:\"}"))

	f.Fuzz(func(t *testing.T, settings, defaults, model []byte) {
		dir := t.TempDir()
		write := func(name string, b []byte) {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("inventory.cue", settings)
		write("models/defaults.cue", defaults)
		write("models/fuzzed/model.cue", model)
		src, err := OpenWorktree(dir)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := Load(context.Background(), src, Options{Workers: 1})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		for _, p := range inv.Problems {
			if !p.Pos.IsValid() || filepath.IsAbs(p.Pos.File) {
				t.Errorf("problem without an inventory file: %+v", p)
			}
		}
	})
}
