package inventory

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// settingsSrc is an inventory.cue with two targets, placed for SettingsPos.
const settingsSrc = `package inventory

stages: ["dev", "prod"]
targets: {
	prod: {stage: "prod", kind: "local", path: "srv/prod", onDrift: "pr"}
	edge: {stage: "prod", kind: "local", path: "srv/edge"}
}
rules: "review-due": severity: "warning"
`

// TestSettings decodes inventory.cue and places its fields; a target's
// driver settings are its fields beyond stage, kind and onDrift.
func TestSettings(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.cue": settingsSrc})
	inv := loadDir(t, dir)
	require.Empty(t, inv.Problems)
	assert.True(t, inv.SettingsOK)
	assert.Equal(t, []string{"dev", "prod"}, inv.Settings.Stages)
	assert.Equal(t, []string{"production"}, inv.Settings.Signing.Required, "default")
	prod, edge := inv.Settings.Targets["prod"], inv.Settings.Targets["edge"]
	assert.Equal(t, "local", prod.Kind)
	assert.Equal(t, "prod", edge.Stage)
	assert.Equal(t, "pr", prod.OnDrift)
	assert.Equal(t, map[string]any{"path": "srv/prod"}, prod.Config)
	assert.Equal(t, "heal", edge.OnDrift, "default")
	assert.Equal(t, map[string]any{"path": "srv/edge"}, edge.Config)
	assert.Equal(t, "warning", inv.Settings.Rules["review-due"].Severity)

	for _, tt := range []struct {
		path []string
		want string
	}{
		{[]string{"targets", "prod", "path"}, "inventory.cue:5:39"},
		{[]string{"targets", "edge"}, "inventory.cue:6:2"},
		{[]string{"targets", "edge", "nope", "deeper"}, "inventory.cue:6:2"},
		{[]string{"stages", "1"}, "inventory.cue:3:17"},
		{[]string{"rules", "review-due"}, "inventory.cue:8:8"},
		{[]string{"github"}, "inventory.cue:1:1"},
		{nil, "inventory.cue:1:1"},
	} {
		assert.Equal(t, tt.want, inv.SettingsPos(tt.path...).String(), "%q", tt.path)
	}
}

// TestSettingsProblems reports every problem of inventory.cue at its place
// and leaves the schema defaults in Settings.
func TestSettingsProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"syntax", "package inventory\n\nstages: [\n", []string{
			` | inventory.cue:3:11: expected ']', found 'EOF'`,
		}},
		{"schema", "package inventory\n\nstages: [\"dev\"]\ntargets: t: {kind: \"local\", path: \"t\"}\ntargets: u: {stage: string, kind: \"local\", path: \"u\"}\n", []string{
			` | inventory.cue:4:10: targets.t.stage: missing required field`,
			` | inventory.cue:5:14: targets.u.stage: incomplete value string`,
		}},
		{"enum", "package inventory\n\nrules: x: severity: \"loud\"\n", []string{
			` | inventory.cue:3:21: rules.x.severity: "loud" is not allowed, want "error" | "off" | "warning"`,
		}},
		{"every value error", "package inventory\n\ntargets: t: {stage: \"prod\", kind: \"local\", path: \"t\", onDrift: \"never\"}\nrules: x: severity: \"loud\"\nrules: y: severity: 1\n", []string{
			` | inventory.cue:3:64: targets.t.onDrift: "never" is not allowed, want "heal" | "pr" | "report"`,
			` | inventory.cue:4:21: rules.x.severity: "loud" is not allowed, want "error" | "off" | "warning"`,
			` | inventory.cue:5:21: rules.y.severity: 1 is not allowed, want "error" | "off" | "warning"`,
		}},
		{"evaluation", "package inventory\n\nsigning: required: [x]\n", []string{
			` | inventory.cue:3:21: signing.required: reference "x" not found`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"inventory.cue": tt.src})
			inv := loadDir(t, dir)
			assert.Equal(t, tt.want, problemLines(inv.Problems))
			assert.False(t, inv.SettingsOK)
			assert.Equal(t, []string{"development", "staging", "production"}, inv.Settings.Stages)
		})
	}
}

// TestSettingsPackage names the package inventory.cue must have.
func TestSettingsPackage(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.cue": "package settings\n\nstages: [\"a\"]\n"})
	inv := loadDir(t, dir)
	assert.Equal(t, []string{` | inventory.cue:1:9: package "settings": inventory.cue is package inventory`}, problemLines(inv.Problems))
}
