package gate_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
)

// FuzzCheck feeds arbitrary inventory.cue, model and policy files to the
// gate, as a deployment verdict with trust roots: whatever the bytes, Check
// returns a verdict or an error and never panics, every finding has a
// message and names a file inside the inventory, and the verdict allows a
// deployment exactly when it holds no error.
func FuzzCheck(f *testing.F) {
	read := func(p string) []byte {
		b, err := os.ReadFile(filepath.Join(quickstart, p))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	settings, owners := read("inventory.cue"), read("policies/owners.cue")
	for _, m := range []string{"fraud-detector", "churn-predictor", "demand-forecast"} {
		f.Add(settings, read(filepath.Join("models", m, "model.cue")), owners)
	}
	f.Add([]byte("package inventory\nsigning: required: [\"prodution\"]\n"), read("models/fraud-detector/model.cue"), []byte("package policy\nrules: x: deny: [1]\n"))
	f.Add([]byte("package inventory\nrules: signature: severity: \"off\"\n"), []byte("package model\nstages: production: \"1.0.0\"\n"), []byte(""))
	f.Add([]byte("package inventory\ntargets: t: {stage: \"qa\", kind: \"local\", path: \"../x\"}\n"), []byte("package model\nversions: \"1.0.0\": artifact: {uri: \"s3://b/m\", digest: \"sha256:\"}\n"), []byte("package policy\nrules: r: {model: _, deny: [model.card.title]}\n"))
	f.Add([]byte("package inventory\nstages: stages + [\"canary\"]\n"), []byte("package model\na: b\nb: a\n"), []byte("package policy\nrules: {\n"))
	trust := exampleTrust(f)

	f.Fuzz(func(t *testing.T, settings, model, pol []byte) {
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
		write("models/fuzzed/model.cue", model)
		write("policies/fuzzed.cue", pol)
		src, err := inventory.OpenWorktree(dir)
		if err != nil {
			t.Fatal(err)
		}
		v, err := gate.Check(context.Background(), src, gate.Options{Now: now, Trust: trust, Deploy: true, Load: inventory.Options{Workers: 1}})
		if err != nil {
			return // unreadable input is an error, not a verdict
		}
		errs := 0
		for _, fd := range v.Report.Findings {
			if strings.TrimSpace(fd.Message) == "" {
				t.Errorf("finding without a message: %+v", fd)
			}
			if fd.File == "" || filepath.IsAbs(fd.File) || strings.HasPrefix(fd.File, "..") {
				t.Errorf("finding without an inventory file: %+v", fd)
			}
			if fd.Severity == policy.Error {
				errs++
			}
		}
		if errs != v.Report.Summary.Errors {
			t.Errorf("summary counts %d errors, findings hold %d", v.Report.Summary.Errors, errs)
		}
		if (v.Allow() == nil) != (errs == 0) {
			t.Errorf("Allow() = %v with %d errors", v.Allow(), errs)
		}
	})
}
