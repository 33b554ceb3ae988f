package inventory

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pathModel is a valid model whose card documents and artifact URIs are
// the given paths: risk.assessment on line 6, validation.report on 7,
// privacy.dpia on 8, versions 1.0.0 and 1.1.0 on 17 and 18.
func pathModel(assessment, report, dpia, uri0, uri1 string) string {
	return `package model

card: {
	title: "Model m"
	description: "d"
	risk: {tier: "low", assessment: "` + assessment + `"}
	validation: report: "` + report + `"
	privacy: dpia: "` + dpia + `"
	owners: ["@a/b"]
	intendedUse: "x"
	limitations: []
	framework: "onnx"
	data: training: []
	review: lastReviewed: "2026-01-01"
}
versions: {
	"1.0.0": artifact: {uri: "` + uri0 + `", digest: "` + digest0 + `"}
	"1.1.0": artifact: {uri: "` + uri1 + `", digest: "` + digest0 + `"}
}
stages: development: "1.0.0"
`
}

// TestRepositoryPaths checks every path a model names, in the working tree:
// relative to the repository root, inside it, and not through a symbolic
// link that leaves it.
func TestRepositoryPaths(t *testing.T) {
	tests := []struct {
		name  string
		model string
		links map[string]string // link -> target
		want  []string
	}{
		{name: "inside", model: pathModel("docs/risk.md", "./docs/validation.md", "https://wiki.example/dpia", "file://artifacts/m.bin", "file://models/m/missing.bin"),
			links: map[string]string{"models/m/weights.bin": "../../artifacts/m.bin"}},
		{name: "link inside", model: pathModel("docs/risk.md", "docs/r.md", "docs/d.md", "file://models/m/weights.bin", "https://models.example/m.bin"),
			links: map[string]string{"models/m/weights.bin": "../../artifacts/m.bin"}},
		{name: "dot-dot", model: pathModel("docs/../../risk.md", "..", "docs/..x/d.md", "file://../outside/secret.bin", "file://artifacts/../../m.bin"),
			want: []string{
				`m | models/m/model.cue:17:22: versions."1.0.0".artifact.uri: path "../outside/secret.bin" leaves the repository`,
				`m | models/m/model.cue:18:22: versions."1.1.0".artifact.uri: path "artifacts/../../m.bin" leaves the repository`,
				`m | models/m/model.cue:6:22: card.risk.assessment: path "docs/../../risk.md" leaves the repository`,
				`m | models/m/model.cue:7:14: card.validation.report: path ".." leaves the repository`,
			}},
		{name: "absolute and backslash", model: pathModel("/etc/passwd", `docs\\risk.md`, "docs/d.md", "file:///etc/passwd", "file://"),
			want: []string{
				`m | models/m/model.cue:17:22: versions."1.0.0".artifact.uri: path "/etc/passwd" must be relative to the repository root`,
				`m | models/m/model.cue:18:22: versions."1.1.0".artifact.uri: empty path`,
				`m | models/m/model.cue:6:22: card.risk.assessment: path "/etc/passwd" must be relative to the repository root`,
				`m | models/m/model.cue:7:14: card.validation.report: path "docs\\risk.md" has a backslash`,
			}},
		{name: "links out", model: pathModel("docs/risk.md", "docs/out/report.md", "models/m/abs.md", "file://models/m/link.bin", "file://artifacts/m.bin"),
			links: map[string]string{
				"models/m/link.bin": "../../../outside/secret.bin",
				"docs/out":          "../../outside",
				"models/m/abs.md":   "/etc/hostname",
			},
			want: []string{
				`m | models/m/model.cue:17:22: versions."1.0.0".artifact.uri: path "models/m/link.bin" leaves the repository through a symbolic link`,
				`m | models/m/model.cue:7:14: card.validation.report: path "docs/out/report.md" leaves the repository through a symbolic link`,
				`m | models/m/model.cue:8:11: card.privacy.dpia: path "models/m/abs.md" leaves the repository through a symbolic link`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, map[string]string{
				"outside/secret.bin":       "secret",
				"outside/report.md":        "secret",
				"repo/inventory.cue":       "package inventory\n",
				"repo/models/defaults.cue": licenseDefault,
				"repo/models/m/model.cue":  tt.model,
				"repo/artifacts/m.bin":     "weights",
				"repo/docs/risk.md":        "risk",
			})
			for name, target := range tt.links {
				symlink(t, root, target, "repo/"+name)
			}
			inv := loadDir(t, root+"/repo")
			assert.Equal(t, tt.want, problemLines(inv.Problems))
			m := inv.Model("m")
			require.NotNil(t, m)
			assert.Equal(t, tt.want == nil, m.Valid)
		})
	}
}
