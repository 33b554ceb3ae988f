package schema_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/schema"
)

// TestGoTypesCoverSchema decodes the evaluated example models into the Go
// types and encodes them again: the JSON must equal CUE's own, so no field
// the schema allows is dropped on the way into Go.
func TestGoTypesCoverSchema(t *testing.T) {
	ctx := cuecontext.New()
	s, err := schema.Compile(ctx)
	require.NoError(t, err)
	defaults, err := os.ReadFile(filepath.Join("..", "examples", "quickstart", "models", "defaults.cue"))
	require.NoError(t, err)
	for _, m := range []string{"fraud-detector", "churn-predictor", "demand-forecast"} {
		t.Run(m, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("..", "examples", "quickstart", "models", m, "model.cue"))
			require.NoError(t, err)
			v := ctx.CompileBytes(src).Unify(ctx.CompileBytes(defaults)).Unify(s.Model)
			require.NoError(t, v.Validate(cue.Concrete(true)))
			want, err := v.MarshalJSON()
			require.NoError(t, err)
			var model schema.Model
			require.NoError(t, v.Decode(&model))
			got, err := json.Marshal(model)
			require.NoError(t, err)
			assert.JSONEq(t, string(want), string(got))
		})
	}
}

// TestSettingsDefaults checks the defaults an empty inventory.cue gets.
func TestSettingsDefaults(t *testing.T) {
	ctx := cuecontext.New()
	s, err := schema.Compile(ctx)
	require.NoError(t, err)
	v := ctx.CompileString(`targets: prod: {stage: "production", kind: "local", path: "prod"}`).Unify(s.Settings)
	require.NoError(t, v.Validate(cue.Concrete(true)))
	var set schema.Settings
	require.NoError(t, v.Decode(&set))
	assert.Equal(t, []string{"development", "staging", "production"}, set.Stages)
	assert.Equal(t, []string{"production"}, set.Signing.Required)
	assert.Equal(t, "heal", set.Targets["prod"].OnDrift)
}

// TestClosed checks that a field the schema does not know is an error.
func TestClosed(t *testing.T) {
	ctx := cuecontext.New()
	s, err := schema.Compile(ctx)
	require.NoError(t, err)
	v := ctx.CompileString(`card: risk: {tier: "low", score: 3}`).Unify(s.Model)
	err = v.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "card.risk.score: field not allowed")
}

// TestTargetKinds checks the kinds this build implements and that each
// kind's schema is closed, while an unknown kind is left for Cairn to name.
func TestTargetKinds(t *testing.T) {
	ctx := cuecontext.New()
	s, err := schema.Compile(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"kserve", "local"}, s.TargetKinds)
	tests := []struct {
		target string
		err    string
	}{
		{`{stage: "production", kind: "local", path: "prod"}`, ""},
		{`{stage: "production", kind: "local", path: "prod", replicas: 2}`, "targets.t.replicas: field not allowed"},
		{`{stage: "production", kind: "local", path: 42}`, "targets.t.path: conflicting values 42 and string"},
		{`{stage: "production", kind: "local", path: ""}`, `targets.t.path: invalid value ""`},
		{`{stage: "production", kind: "kserve", namespace: "models"}`, ""},
		{`{stage: "production", kind: "kserve", namespace: "models", context: "prod-eu"}`, ""},
		{`{stage: "production", kind: "kserve", namespace: "models", path: "prod"}`, "targets.t.path: field not allowed"},
		{`{stage: "production", kind: "kserve"}`, "targets.t.namespace: incomplete value"},
		{`{stage: "production", kind: "kserve", namespace: "Models_1"}`, `targets.t.namespace: invalid value "Models_1"`},
		{`{stage: "production", kind: "kserve", namespace: "models", context: ""}`, `targets.t.context: invalid value ""`},
		{`{stage: "production", kind: "local", path: "prod", namespace: "models"}`, "targets.t.namespace: field not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			v := ctx.CompileString("targets: t: " + tt.target).Unify(s.Settings)
			err := v.Validate(cue.Concrete(true))
			if tt.err == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}

// TestServing checks the serving fields a version may give a kserve target,
// and that the Go type keeps every one of them.
func TestServing(t *testing.T) {
	ctx := cuecontext.New()
	s, err := schema.Compile(ctx)
	require.NoError(t, err)
	version := func(serving string) cue.Value {
		m := ctx.CompileString(`versions: "1.0.0": {artifact: {uri: "https://models.example/m.onnx", digest: "sha256:` +
			"0000000000000000000000000000000000000000000000000000000000000000" + `"}, serving: ` + serving + `}`).
			Unify(s.Model)
		return m.LookupPath(cue.ParsePath(`versions."1.0.0"`))
	}
	tests := []struct {
		serving string
		err     string
	}{
		{`{}`, ""},
		{`{format: "onnx", runtime: "kserve-tritonserver", protocolVersion: "v2", resources: {requests: {cpu: "500m", memory: "2Gi"}, limits: {"nvidia.com/gpu": "1"}}}`, ""},
		{`{protocolVersion: "v3"}`, "protocolVersion"},
		{`{resources: requests: cpu: "half"}`, "cpu"},
		{`{format: ""}`, "format"},
		{`{replicas: 2}`, "replicas: field not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.serving, func(t *testing.T) {
			v := version(tt.serving)
			err := v.Validate(cue.Concrete(true))
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			want, err := v.MarshalJSON()
			require.NoError(t, err)
			var got schema.Version
			require.NoError(t, v.Decode(&got))
			b, err := json.Marshal(got)
			require.NoError(t, err)
			assert.JSONEq(t, string(want), string(b))
		})
	}
}
