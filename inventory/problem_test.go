package inventory

import (
	"fmt"
	"github.com/stretchr/testify/require"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// cardWith is a model.cue whose card has the given lines from line 4 on,
// after a title; the rest of the card is valid unless the lines say
// otherwise.
func cardWith(lines string) string {
	return "package model\n\ncard: {\n" + lines + `
	description: "d"
	intendedUse: "x"
	limitations: []
	framework: "onnx"
	license: "MIT"
	review: lastReviewed: "2026-01-01"
}
versions: {}
stages: {}
`
}

// TestModelProblems reports every schema problem of a model at once, each
// at the place in the model's files that is at fault.
func TestModelProblems(t *testing.T) {
	tests := []struct {
		name string
		card string
		want []string
	}{
		{"valid", "\ttitle: \"t\"\n\towners: [\"@a/b\"]\n\trisk: tier: \"low\"\n\tdata: training: [{uri: \"s3://b/t\"}]", nil},
		{"enum", "\ttitle: \"t\"\n\towners: [\"@a/b\"]\n\trisk: tier: \"extreme\"\n\tdata: training: []", []string{
			`m | models/m/model.cue:6:14: card.risk.tier: "extreme" is not allowed, want "critical" | "high" | "low" | "medium"`,
		}},
		{"missing fields", "\ttitle: \"t\"\n\trisk: {}\n\tdata: {}", []string{
			`m | models/m/model.cue:3:1: card.owners: missing required field`,
			`m | models/m/model.cue:5:2: card.risk.tier: missing required field`,
		}},
		{"list element", "\ttitle: \"t\"\n\towners: [\"@a/b\", 3]\n\trisk: tier: \"low\"\n\tdata: training: []", []string{
			`m | models/m/model.cue:5:19: card.owners.1: conflicting values 3 and string (mismatched types int and string)`,
		}},
		{"list elements incomplete", "\ttitle: \"t\"\n\towners: [\"@a/b\"]\n\trisk: tier: \"low\"\n\tdata: training: [{uri: \"s3://b/t\"}, {pii: true}, {uri: string}]", []string{
			`m | models/m/model.cue:7:38: card.data.training.1.uri: missing required field`,
			`m | models/m/model.cue:7:52: card.data.training.2.uri: incomplete value string`,
		}},
		{"incomplete only", "\ttitle: string\n\towners: [\"@a/b\"]\n\trisk: tier: \"low\" | \"high\"\n\tdata: training: []", []string{
			`m | models/m/model.cue:4:2: card.title: incomplete value strings.MinRunes(1)`,
			`m | models/m/model.cue:6:8: card.risk.tier: incomplete value "low" | "high"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{
				"inventory.cue":      "package inventory\n",
				"models/m/model.cue": cardWith(tt.card),
			})
			inv := loadDir(t, dir)
			assert.Equal(t, tt.want, problemLines(inv.Problems))
			assert.Equal(t, tt.want == nil, inv.Models[0].Valid)
		})
	}
}

// TestProblemInLongList places a problem of the tenth or eleventh list
// element at that element.
func TestProblemInLongList(t *testing.T) {
	for _, n := range []int{9, 10} {
		var sets strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&sets, "\t\t{uri: \"s3://b/%d\"},\n", i)
		}
		sets.WriteString("\t\t{pii: true},\n")
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{
			"inventory.cue":      "package inventory\n",
			"models/m/model.cue": cardWith("\ttitle: \"t\"\n\towners: [\"@a/b\"]\n\trisk: tier: \"low\"\n\tdata: training: [\n" + sets.String() + "\t]"),
		})
		inv := loadDir(t, dir)
		want := fmt.Sprintf("m | models/m/model.cue:%d:3: card.data.training.%d.uri: missing required field", 8+n, n)
		assert.Equal(t, []string{want}, problemLines(inv.Problems))
	}
}

// TestModelFileLinkedOut reports a model file that is a link out of the
// repository, and reads nothing through it.
func TestModelFileLinkedOut(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"outside.cue":              "package model\n\nretired: true\n",
		"repo/inventory.cue":       "package inventory\n",
		"repo/models/defaults.cue": licenseDefault,
		"repo/models/m/model.cue":  validModel,
	})
	symlink(t, root, "../../../outside.cue", "repo/models/m/z.cue")
	inv := loadDir(t, filepath.Join(root, "repo"))
	require.Len(t, inv.Problems, 1)
	p := inv.Problems[0]
	assert.Equal(t, "m", p.Model)
	assert.Equal(t, Position{File: "models/m/z.cue"}, p.Pos)
	assert.True(t, strings.HasPrefix(p.Message, "file cannot be read inside the repository: "), p.Message)
	assert.NotContains(t, p.Message, "models/m/z.cue", "the path is the problem's place, not its message")
	assert.False(t, inv.Models[0].Valid)
}
