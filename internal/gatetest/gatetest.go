// Package gatetest holds the revisions of the quickstart that the gate must
// refuse, one table for every path that deploys: the tests of validate,
// apply and the daemon run the same inputs, so the paths cannot drift
// apart.
package gatetest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cairnops/cairn/internal/gittest"
)

// Deleted is the content of a file that a Break removes; gittest's Seed
// removes it too.
const Deleted = gittest.Deleted

// Break is one way to make examples/quickstart fail the gate.
type Break struct {
	Name string
	// Edit returns the files it changes (slash path -> new content, or
	// Deleted), given the quickstart's files.
	Edit func(files map[string]string) map[string]string
	// Want is part of a finding the gate reports for it.
	Want string
}

// replace returns files[path] with old replaced by new; it panics when old
// does not occur, so that a changed example cannot silently make a Break
// pass.
func replace(files map[string]string, path, old, new string) string {
	s := files[path]
	if !strings.Contains(s, old) {
		panic("gatetest: " + path + " no longer contains " + old)
	}
	return strings.Replace(s, old, new, 1)
}

// Breaks are the revisions every deploying path refuses, each with a
// promotion (churn-predictor 1.5.0 to staging) so that a path that ignored
// the verdict would change a target.
var Breaks = []Break{
	{
		Name: "owners are not a team",
		Edit: func(f map[string]string) map[string]string {
			return map[string]string{"models/fraud-detector/model.cue": replace(f, "models/fraud-detector/model.cue", `"@acme/fraud-ml", `, ``)}
		},
		Want: "(owners-are-teams)",
	},
	{
		Name: "a broken policy file",
		Edit: func(map[string]string) map[string]string {
			return map[string]string{"policies/broken.cue": "package policy\n\nrules: {\n"}
		},
		Want: "policy does not compile: expected '}', found 'EOF'",
	},
	{
		Name: "an empty policy file",
		Edit: func(map[string]string) map[string]string {
			return map[string]string{"policies/empty.cue": ""}
		},
		Want: `package "": policy files are package policy`,
	},
	{
		Name: "a rules entry that names no rule",
		Edit: func(f map[string]string) map[string]string {
			return map[string]string{"inventory.cue": replace(f, "inventory.cue", `rules: "review-due"`, `rules: "no-such-rule"`)}
		},
		Want: `rules."no-such-rule": no rule has this id`,
	},
	{
		Name: "the production bundle deleted",
		Edit: func(map[string]string) map[string]string {
			return map[string]string{"models/fraud-detector/signatures/2.3.0.sigstore.json": Deleted}
		},
		Want: "no signature bundle models/fraud-detector/signatures/2.3.0.sigstore.json",
	},
	{
		Name: "a production bundle of another version",
		Edit: func(f map[string]string) map[string]string {
			return map[string]string{"models/fraud-detector/signatures/2.3.0.sigstore.json": f["models/fraud-detector/signatures/2.2.0.sigstore.json"]}
		},
		Want: "bundle signs another digest",
	},
	{
		Name: "a stage pins an undeclared version",
		Edit: func(f map[string]string) map[string]string {
			return map[string]string{"models/fraud-detector/model.cue": replace(f, "models/fraud-detector/model.cue", `production: "2.3.0"`, `production: "9.9.9"`)}
		},
		Want: `version "9.9.9" is not declared in versions`,
	},
	{Name: "signing requires a stage that does not exist",
		Edit: settings(`signing: required: ["production"]`, `signing: required: ["prodution"]`),
		Want: `signing.required.0: "prodution" is not a stage of inventory.cue`},
	{Name: "a target serves an undeclared stage",
		Edit: settings(prodTarget, `"prod-local": {stage: "qa", kind: "local", path: "production"}`),
		Want: `targets."prod-local".stage: "qa" is not a stage of inventory.cue`},
	{Name: "a target kind this build does not implement",
		Edit: settings(prodTarget, `"prod-local": {stage: "production", kind: "kubernetes"}`),
		Want: `targets."prod-local".kind: "kubernetes" is not a target kind this build implements`},
	{Name: "a target path that is not a string",
		Edit: settings(prodTarget, `"prod-local": {stage: "production", kind: "local", path: 42}`),
		Want: `targets."prod-local".path: conflicting values 42 and string`},
	{Name: "a target without a path",
		Edit: settings(prodTarget, `"prod-local": {stage: "production", kind: "local"}`),
		Want: `targets."prod-local".path: missing required field`},
	{Name: "a target path that leaves the target root",
		Edit: settings(prodTarget, `"prod-local": {stage: "production", kind: "local", path: "../escape"}`),
		Want: `targets."prod-local".path: "../escape" leaves the target root`},
	{Name: "two targets with one path",
		Edit: settings(prodTarget, `"prod-local": {stage: "production", kind: "local", path: "staging"}`),
		Want: `"staging" is also the path of target`},
	{Name: "a target inside another target's folder",
		Edit: settings(prodTarget, `"prod-local": {stage: "production", kind: "local", path: "staging/churn-predictor"}`),
		Want: `local target folders must not nest`},
	{Name: "an artifact scheme this build cannot open",
		Edit: func(f map[string]string) map[string]string {
			return map[string]string{"models/demand-forecast/model.cue": replace(f, "models/demand-forecast/model.cue", `file://artifacts/demand-forecast/0.3.0/`, `s3://bucket/demand-forecast/0.3.0/`)}
		},
		Want: `scheme s3:// cannot be fetched by this build`},
}

// settings replaces old with new in inventory.cue.
func settings(old, new string) func(map[string]string) map[string]string {
	return func(f map[string]string) map[string]string {
		return map[string]string{"inventory.cue": replace(f, "inventory.cue", old, new)}
	}
}

const prodTarget = `"prod-local": {stage: "production", kind: "local", path: "production", onDrift: "heal"}`

// Promote is the change every Break rides with: churn-predictor 1.5.0 to
// staging.
func Promote(files map[string]string) map[string]string {
	return map[string]string{"models/churn-predictor/model.cue": replace(files, "models/churn-predictor/model.cue", `staging:     "1.4.0"`, `staging:     "1.5.0"`)}
}

// Quickstart returns every file of examples/quickstart by slash path.
func Quickstart(t testing.TB) map[string]string {
	t.Helper()
	dir := QuickstartDir()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatalf("gatetest: reading the quickstart: %v", err)
	}
	return files
}

// QuickstartDir is the path of examples/quickstart.
func QuickstartDir() string {
	_, file := callerFile()
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "quickstart")
}

// Write writes changed files into dir, removing those whose content is
// Deleted.
func Write(t testing.TB, dir string, changed map[string]string) {
	t.Helper()
	for p, c := range changed {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if c == Deleted {
			if err := os.Remove(full); err != nil {
				t.Fatalf("gatetest: %v", err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatalf("gatetest: %v", err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatalf("gatetest: %v", err)
		}
	}
}

// Merge returns the union of the change sets, later ones winning.
func Merge(sets ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, s := range sets {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

func callerFile() (uintptr, string) {
	pc, file, _, _ := runtime.Caller(0)
	return pc, file
}
