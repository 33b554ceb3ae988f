package inventory

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// posModel sets fields in two files, with a conjunction and lists, for Pos.
const posModel = `package model

card: {
	title: "t"
	owners: ["@a/b", "ada@example.com"]
	risk: tier: "low"
} & {
	description: "d"
	intendedUse: "x"
}
card: limitations: []
card: framework: "onnx"
card: data: training: [{uri: "s3://b/t"}, {uri: "s3://b/u", pii: false}]
card: review: lastReviewed: "2026-01-01"
versions: "1.0.0": artifact: {uri: "https://m.example/1.onnx", digest: "` + "sha256:0000000000000000000000000000000000000000000000000000000000000000" + `"}
stages: development: "1.0.0"
`

// TestModelPos places a field path where the model's own files set it, else
// where the defaults do, else at the closest enclosing field, else at the
// model's first file.
func TestModelPos(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inventory.cue":       "package inventory\n",
		"models/defaults.cue": "package model\n\ncard: license: *\"proprietary\" | string\ncard: title: string\n",
		"models/m/a.cue":      posModel,
		"models/m/b.cue":      "package model\n\nretired: false\n",
	})
	inv := loadDir(t, dir)
	require.Empty(t, inv.Problems)
	m := inv.Model("m")
	require.NotNil(t, m)
	require.True(t, m.Valid)
	assert.Equal(t, []string{"models/m/a.cue", "models/m/b.cue", "models/defaults.cue"}, m.Files)
	for _, tt := range []struct {
		path []string
		want string
	}{
		{[]string{"card", "title"}, "models/m/a.cue:4:2"},
		{[]string{"card", "owners", "1"}, "models/m/a.cue:5:19"},
		{[]string{"card", "owners", "2"}, "models/m/a.cue:5:2"},
		{[]string{"card", "description"}, "models/m/a.cue:8:2"},
		{[]string{"card", "data", "training", "1", "pii"}, "models/m/a.cue:13:61"},
		{[]string{"card", "data", "training", "0", "pii"}, "models/m/a.cue:13:24"},
		{[]string{"card", "license"}, "models/defaults.cue:3:7"},
		{[]string{"versions", "1.0.0", "artifact", "digest"}, "models/m/a.cue:15:64"},
		{[]string{"retired"}, "models/m/b.cue:3:1"},
		{[]string{"monitors", "auc"}, "models/m/a.cue:1:1"},
		{nil, "models/m/a.cue:1:1"},
	} {
		assert.Equal(t, tt.want, m.Pos(tt.path...).String(), "%q", tt.path)
	}
}

// TestModelPosWithoutFiles places a model whose files do not parse at its
// first file, and one without files at its folder.
func TestModelPosWithoutFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inventory.cue":          "package inventory\n",
		"models/m/model.cue":     "package model\n\ncard: {\n",
		"models/empty/README.md": "nothing",
	})
	inv := loadDir(t, dir)
	assert.Equal(t, "models/m/model.cue:1:1", inv.Model("m").Pos("card", "title").String())
	empty := inv.Model("empty")
	assert.Equal(t, Position{File: "models/empty"}, empty.Pos("card"))
	assert.Equal(t, "models/empty", empty.Pos().String())
	assert.True(t, empty.Pos().IsValid())
	assert.False(t, Position{}.IsValid())
}
