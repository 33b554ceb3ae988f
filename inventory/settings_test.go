package inventory

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// change replaces old with new in file of a copy of examples/quickstart.
type change struct{ file, old, new string }

// quickstartProblems loads a copy of examples/quickstart with changes made
// and returns its problems as "file:line:col: message".
func quickstartProblems(t *testing.T, changes ...change) []string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join("..", "examples", "quickstart"))))
	for _, c := range changes {
		p := filepath.Join(dir, filepath.FromSlash(c.file))
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) && c.old == "" {
			b, err = nil, nil
		}
		require.NoError(t, err)
		require.Contains(t, string(b), c.old, "changing %s", c.file)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), c.old, c.new, 1)), 0o644))
	}
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	inv, err := Load(context.Background(), src, Options{Workers: 1})
	require.NoError(t, err)
	out := []string{}
	for _, p := range inv.Problems {
		require.NotEmpty(t, p.Message, "every problem has a message: %+v", p)
		if p.Model != "" {
			require.True(t, p.Pos.File == "models/defaults.cue" && strings.Contains(p.Message, "model "+p.Model+":") ||
				strings.HasPrefix(p.Pos.File, "models/"+p.Model+"/"),
				"a model's problem names its file, or its name at the defaults: %+v", p)
		}
		out = append(out, p.String())
	}
	return out
}

func TestSettingsReferences(t *testing.T) {
	const inv = "inventory.cue"
	tests := []struct {
		name    string
		changes []change
		want    []string
	}{{
		name:    "signing names an undeclared stage",
		changes: []change{{inv, `required: ["production"]`, `required: ["prodution"]`}},
		want:    []string{`inventory.cue:26:21: signing.required.0: "prodution" is not a stage of inventory.cue (stages: development, staging, production)`},
	}, {
		name:    "a target serves an undeclared stage",
		changes: []change{{inv, `stage: "staging", kind`, `stage: "qa", kind`}},
		want:    []string{`inventory.cue:10:20: targets."staging-local".stage: "qa" is not a stage of inventory.cue (stages: development, staging, production)`},
	}, {
		name:    "approvals for an undeclared stage",
		changes: []change{{inv, `staging: min: 1`, `qa: min: 1`}},
		want:    []string{`inventory.cue:15:2: approvals.qa: "qa" is not a stage of inventory.cue (stages: development, staging, production)`},
	}, {
		name:    "a stage declared twice",
		changes: []change{{inv, `"staging", "production"]`, `"staging", "production", "staging"]`}},
		want:    []string{`inventory.cue:4:50: stages.3: stage "staging" is declared twice (also stages.1): a promotion path names each stage once`},
	}, {
		name:    "stages computed from themselves",
		changes: []change{{inv, `stages: ["development", "staging", "production"]`, `stages: stages + ["canary"]`}},
		want:    []string{`inventory.cue:4:9: stages: refers to itself: write the value out instead of computing it from stages`},
	}, {
		name:    "a monitor watches an undeclared stage",
		changes: []change{{"models/fraud-detector/model.cue", `kind:   "latency"`, `kind:   "latency", stage: "prod"`}},
		want:    []string{`models/fraud-detector/model.cue:90:22: monitors."p99-latency".stage: "prod" is not a stage of inventory.cue (stages: development, staging, production)`},
	}, {
		name: "monitors watch the default stage, which is not declared",
		changes: []change{
			{inv, `stages: ["development", "staging", "production"]`, `stages: ["development", "staging", "live"]`},
			{inv, `"prod-local": {stage: "production"`, `"prod-local": {stage: "live"`},
			{inv, `required: ["production"]`, `required: ["live"]`},
			{inv, "\tproduction: {", "\tlive: {"},
			{"models/fraud-detector/model.cue", `production: "2.3.0"`, `live: "2.3.0"`},
		},
		want: []string{
			`models/fraud-detector/model.cue:72:2: monitors.auc.stage: "production" (the default) is not a stage of inventory.cue (stages: development, staging, live)`,
			`models/fraud-detector/model.cue:79:2: monitors."feature-drift".stage: "production" (the default) is not a stage of inventory.cue (stages: development, staging, live)`,
			`models/fraud-detector/model.cue:86:2: monitors."p99-latency".stage: "production" (the default) is not a stage of inventory.cue (stages: development, staging, live)`,
		},
	}, {
		name:    "a kserve target",
		changes: []change{{inv, `kind: "local", path: "production"`, `kind: "kserve", namespace: "models"`}},
		want:    []string{},
	}, {
		name:    "kubernetes is not a kind",
		changes: []change{{inv, `kind: "local", path: "production"`, `kind: "kubernetes"`}},
		want:    []string{`inventory.cue:11:38: targets."prod-local".kind: "kubernetes" is not a target kind this build implements (want "kserve" or "local")`},
	}, {
		name:    "a local path that is not a string",
		changes: []change{{inv, `path: "production"`, `path: 42`}},
		want:    []string{`inventory.cue:11:59: targets."prod-local".path: conflicting values 42 and string (mismatched types int and string)`},
	}, {
		name:    "a local target without a path",
		changes: []change{{inv, `, path: "production"`, ``}},
		want:    []string{`inventory.cue:11:2: targets."prod-local".path: missing required field`},
	}, {
		name:    "an empty local path",
		changes: []change{{inv, `path: "production"`, `path: ""`}},
		want:    []string{`inventory.cue:11:59: targets."prod-local".path: "" is empty: want a value`},
	}, {
		name:    "a local path that leaves the target root",
		changes: []change{{inv, `path: "production"`, `path: "../escape"`}},
		want:    []string{`inventory.cue:11:53: targets."prod-local".path: "../escape" leaves the target root: want a relative path without ".."`},
	}, {
		name:    "an absolute local path",
		changes: []change{{inv, `path: "production"`, `path: "/srv/models"`}},
		want:    []string{`inventory.cue:11:53: targets."prod-local".path: "/srv/models" is absolute: a local target path is relative to the target root (--target-root)`},
	}, {
		name:    "two local targets share a folder",
		changes: []change{{inv, `path: "production"`, `path: "staging/"`}},
		want:    []string{`inventory.cue:10:53: targets."staging-local".path: "staging" is also the path of target prod-local: each local target needs its own folder`},
	}, {
		name:    "a local target inside another's folder",
		changes: []change{{inv, `path: "production"`, `path: "staging/prod"`}},
		want:    []string{`inventory.cue:10:53: targets."staging-local".path: "staging" holds the folder of target prod-local ("staging/prod"): local target folders must not nest`},
	}, {
		name: "two kserve targets share a namespace",
		changes: []change{
			{inv, `kind: "local", path: "production"`, `kind: "kserve", namespace: "models"`},
			{inv, `kind: "local", path: "staging"`, `kind: "kserve", namespace: "models"`},
		},
		want: []string{`inventory.cue:10:54: targets."staging-local".namespace: namespace "models" is also served by target prod-local: each kserve target needs its own namespace`},
	}, {
		name: "kserve targets of two contexts may share a namespace name",
		changes: []change{
			{inv, `kind: "local", path: "production"`, `kind: "kserve", namespace: "models", context: "eu"`},
			{inv, `kind: "local", path: "staging"`, `kind: "kserve", namespace: "models"`},
		},
		want: []string{},
	}, {
		name:    "a setting the local kind does not have",
		changes: []change{{inv, `path: "production"`, `path: "production", replicas: 2`}},
		want:    []string{`inventory.cue:11:73: targets."prod-local".replicas: field not allowed`},
	}, {
		name:    "an artifact scheme this build cannot fetch",
		changes: []change{{"models/fraud-detector/model.cue", `"file://artifacts/fraud-detector/2.2.0/model.onnx"`, `"s3://acme-models/fraud/2.2.0/model.onnx"`}},
		want:    []string{`models/fraud-detector/model.cue:45:4: versions."2.2.0".artifact.uri: scheme s3:// cannot be fetched by this build (want file://, https:// or oci://)`},
	}, {
		name: "plain http, oci and no scheme",
		changes: []change{
			{"models/churn-predictor/model.cue", `"file://artifacts/churn-predictor/1.4.0/model.joblib"`, `"http://models.acme.example/churn/1.4.0/model.joblib"`},
			{"models/churn-predictor/model.cue", `"file://artifacts/churn-predictor/1.5.0/model.joblib"`, `"artifacts/churn-predictor/1.5.0/model.joblib"`},
			{"models/demand-forecast/model.cue", `"file://artifacts/demand-forecast/0.3.0/model.json"`, `"oci://ghcr.io/acme/demand@sha256:0000000000000000000000000000000000000000000000000000000000000000"`},
		},
		want: []string{
			`models/churn-predictor/model.cue:18:3: versions."1.4.0".artifact.uri: scheme http:// cannot be fetched by this build: anyone on the path can change what it serves (want file://, https:// or oci://)`,
			`models/churn-predictor/model.cue:22:3: versions."1.5.0".artifact.uri: "artifacts/churn-predictor/1.5.0/model.joblib" is not a URI (want file://, https:// or oci://)`,
			`models/demand-forecast/model.cue:17:2: versions."0.3.0".artifact.uri: names manifest sha256:0000000000000000000000000000000000000000000000000000000000000000 but the version's digest is sha256:1082aba19017bec2d6763e245181f2ce54c67c855f9109f030b1183a997dd590: the digest of an oci:// artifact is its manifest digest`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, quickstartProblems(t, tt.changes...))
		})
	}
}

func TestParseOCI(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		uri, repo, err string
	}{
		{"oci://ghcr.io/acme/m@" + d, "ghcr.io/acme/m", ""},
		{"oci://127.0.0.1:5000/acme/m:1.2.0@" + d, "127.0.0.1:5000/acme/m", ""},
		{"oci://ghcr.io/acme/m:1.2.0", "", `"oci://ghcr.io/acme/m:1.2.0": an oci:// artifact must be pinned by its manifest digest: a tag can move; write oci://REGISTRY/REPO@sha256:<manifest digest> (a tag may stay before the @)`},
		{"oci://ghcr.io/acme/m", "", "a tag can move"},
		{"oci://ghcr.io/acme/m@sha512:" + strings.Repeat("ab", 64), "", "want @sha256:<64 hex digits>"},
		{"oci://ghcr.io/acme/m@sha256:AB" + strings.Repeat("ab", 31), "", "want @sha256:<64 hex digits>"},
		{"oci://ghcr.io/Acme/m@" + d, "", "invalid reference"},
		{"oci:///m@" + d, "", "invalid reference"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			ref, err := ParseOCI(tt.uri)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.repo, ref.Registry+"/"+ref.Repository)
			assert.Equal(t, d, ref.Reference)
		})
	}
}

func TestArtifactScheme(t *testing.T) {
	tests := []struct {
		uri    string
		scheme string
		ok     bool
	}{
		{"file://artifacts/m.onnx", "file://", true},
		{"https://models.example/m.onnx", "https://", true},
		{"HTTPS://models.example/m.onnx", "HTTPS://", false},
		{"s3://bucket/m.onnx", "s3://", false},
		{"oci://ghcr.io/acme/m:1", "oci://", true},
		{"artifacts/m.onnx", "", false},
		{"://x", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			scheme, ok := ArtifactScheme(tt.uri)
			assert.Equal(t, tt.scheme, scheme)
			assert.Equal(t, tt.ok, ok)
		})
	}
}
