package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
)

// copyDir copies the files under src to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	require.NoError(t, err)
}

// TestValidateSARIF checks --format sarif against what GitHub code scanning
// requires of an upload: version and $schema, one run whose tool.driver has
// a name and rules, and results with ruleId, message.text and a location
// relative to the repository root with region.startLine.
func TestValidateSARIF(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	t.Setenv(inventory.CacheEnv, t.TempDir()) // not the user's cache
	_, file, _, _ := runtime.Caller(0)
	quickstart := filepath.Join(filepath.Dir(file), "..", "..", "examples", "quickstart")

	tests := []struct {
		name   string
		subdir string // the inventory's folder in the repository
	}{
		{name: "inventory at the repository root", subdir: ""},
		{name: "inventory in a subfolder", subdir: "ml/inventory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := t.TempDir()
			inv := filepath.Join(repo, filepath.FromSlash(tt.subdir))
			copyDir(t, quickstart, inv)
			// Break two rules: an owner that is not a team (organisation
			// rule, error) and a mutable artifact URI (pin-digest, error);
			// review-due stays a warning.
			model := filepath.Join(inv, "models", "churn-predictor", "model.cue")
			b, err := os.ReadFile(model)
			require.NoError(t, err)
			src := strings.Replace(string(b), `owners: ["@acme/growth-ml"]`, `owners: ["growth@acme.example"]`, 1)
			src = strings.Replace(src, `"file://artifacts/churn-predictor/1.4.0/model.joblib"`, `"https://huggingface.co/acme/churn/resolve/main/model.joblib"`, 1)
			src = strings.Replace(src, `lastReviewed: "2026-08-20"`, `lastReviewed: "2020-01-01"`, 1)
			require.NoError(t, os.WriteFile(model, []byte(src), 0o644))
			cmd := exec.Command("git", "init", "-q", repo)
			cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
			require.NoError(t, cmd.Run())

			t.Chdir(inv)
			var stdout, stderr bytes.Buffer
			root := newRootCmd(&globalOptions{stdout: &stdout, stderr: &stderr})
			root.SetArgs([]string{"validate", "--format", "sarif"})
			err = root.ExecuteContext(context.Background())
			require.Error(t, err, "errors in the inventory exit 1")
			assert.Equal(t, exitFindings, exitCode(err))

			var log struct {
				Schema  string `json:"$schema"`
				Version string `json:"version"`
				Runs    []struct {
					Tool struct {
						Driver struct {
							Name           string `json:"name"`
							InformationURI string `json:"informationUri"`
							Rules          []struct {
								ID               string `json:"id"`
								ShortDescription struct {
									Text string `json:"text"`
								} `json:"shortDescription"`
							} `json:"rules"`
						} `json:"driver"`
					} `json:"tool"`
					Results []struct {
						RuleID    string `json:"ruleId"`
						RuleIndex int    `json:"ruleIndex"`
						Level     string `json:"level"`
						Message   struct {
							Text string `json:"text"`
						} `json:"message"`
						Locations []struct {
							PhysicalLocation struct {
								ArtifactLocation struct {
									URI string `json:"uri"`
								} `json:"artifactLocation"`
								Region struct {
									StartLine   int `json:"startLine"`
									StartColumn int `json:"startColumn"`
								} `json:"region"`
							} `json:"physicalLocation"`
						} `json:"locations"`
					} `json:"results"`
				} `json:"runs"`
			}
			dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
			require.NoError(t, dec.Decode(&log), stdout.String())

			assert.Equal(t, "2.1.0", log.Version)
			assert.Equal(t, "https://json.schemastore.org/sarif-2.1.0.json", log.Schema)
			require.Len(t, log.Runs, 1)
			run := log.Runs[0]
			assert.Equal(t, "cairn", run.Tool.Driver.Name)
			assert.NotEmpty(t, run.Tool.Driver.InformationURI)

			ids := map[string]int{}
			for i, r := range run.Tool.Driver.Rules {
				assert.NotEmpty(t, r.ShortDescription.Text, r.ID)
				_, dup := ids[r.ID]
				assert.False(t, dup, "rule %s listed twice", r.ID)
				ids[r.ID] = i
			}
			for _, r := range policy.Rules() {
				assert.Contains(t, ids, r.ID)
			}
			assert.Contains(t, ids, "owners-are-teams", "organisation rules are listed")

			got := map[string]string{}
			for _, res := range run.Results {
				require.Contains(t, ids, res.RuleID)
				assert.Equal(t, ids[res.RuleID], res.RuleIndex)
				assert.Contains(t, []string{"error", "warning"}, res.Level)
				assert.NotEmpty(t, res.Message.Text)
				require.NotEmpty(t, res.Locations)
				loc := res.Locations[0].PhysicalLocation
				uri := loc.ArtifactLocation.URI
				assert.False(t, filepath.IsAbs(uri) || strings.HasPrefix(uri, "/") || strings.Contains(uri, "..") || strings.Contains(uri, "://"), "uri %q is relative to the repository root", uri)
				assert.FileExists(t, filepath.Join(repo, filepath.FromSlash(uri)))
				assert.GreaterOrEqual(t, loc.Region.StartLine, 1)
				got[res.RuleID] = res.Level + " " + uri
			}
			prefix := ""
			if tt.subdir != "" {
				prefix = tt.subdir + "/"
			}
			want := map[string]string{
				"owners-are-teams": "error " + prefix + "models/churn-predictor/model.cue",
				"pin-digest":       "error " + prefix + "models/churn-predictor/model.cue",
				"review-due":       "warning " + prefix + "models/churn-predictor/model.cue",
			}
			assert.Equal(t, want, got)
		})
	}
}
