package inventory

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestModelFolders loads each kind of model folder: the folder name is the
// model name and must be one; a folder without .cue files, a file of the
// wrong package or one that does not parse is a problem at its place.
func TestModelFolders(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		name   string
		files  map[string]string
		models []string // valid models
		want   []string
	}{
		{name: "valid names", files: map[string]string{
			"models/a/model.cue":        validModel,
			"models/a-9/model.cue":      validModel,
			"models/" + long + "/m.cue": validModel,
			"models/notes.txt":          "not a model",
		}, models: []string{"a", "a-9", long}},
		{name: "invalid names", files: map[string]string{
			"models/Bad_Name/model.cue":      validModel,
			"models/-dash/model.cue":         validModel,
			"models/dash-/model.cue":         validModel,
			"models/" + long + "a/model.cue": validModel,
		}, want: []string{
			`-dash | models/-dash/model.cue:1:1: model folder name "-dash" is not a valid model name: want lower-case letters, digits and inner dashes, at most 63 characters`,
			`Bad_Name | models/Bad_Name/model.cue:1:1: model folder name "Bad_Name" is not a valid model name: want lower-case letters, digits and inner dashes, at most 63 characters`,
			long + `a | models/` + long + `a/model.cue:1:1: model folder name "` + long + `a" is not a valid model name: want lower-case letters, digits and inner dashes, at most 63 characters`,
			`dash- | models/dash-/model.cue:1:1: model folder name "dash-" is not a valid model name: want lower-case letters, digits and inner dashes, at most 63 characters`,
		}},
		{name: "no cue files", files: map[string]string{
			"models/empty/README.md":     "# empty",
			"models/empty/sub/model.cue": validModel,
			"models/m/model.cue":         validModel,
		}, models: []string{"m"}, want: []string{
			`empty | models/empty: model folder has no .cue files`,
		}},
		{name: "package", files: map[string]string{
			"models/m/model.cue": validModel,
			"models/m/other.cue": "package other\n\nretired: false\n",
			"models/n/model.cue": "retired: false\n",
		}, want: []string{
			`m | models/m/other.cue:1:9: package "other": model files are package model`,
			`n | models/n/model.cue:1:1: package "": model files are package model`,
		}},
		{name: "syntax", files: map[string]string{
			"models/m/model.cue": "package model\n\ncard: {\n",
		}, want: []string{
			`m | models/m/model.cue:3:9: expected '}', found 'EOF'`,
		}},
		{name: "defaults apply to every model", files: map[string]string{
			"models/defaults.cue": "package model\n\ncard: framework: \"sklearn\"\n",
			"models/m/model.cue":  validModel,
			"models/n/model.cue":  validModel,
		}, want: []string{
			`m | models/defaults.cue:3:18: card.framework: conflicting values "sklearn" and "onnx"`,
			`n | models/defaults.cue:3:18: card.framework: conflicting values "sklearn" and "onnx"`,
		}},
		{name: "defaults of another package", files: map[string]string{
			"models/defaults.cue": "package defaults\n",
			"models/m/model.cue":  validModel,
		}, want: []string{
			`m | models/defaults.cue:1:9: package "defaults": model files are package model`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"inventory.cue": "package inventory\n", "models/defaults.cue": licenseDefault})
			writeFiles(t, dir, tt.files)
			inv := loadDir(t, dir)
			assert.Equal(t, tt.want, problemLines(inv.Problems))
			var valid []string
			for _, m := range inv.Models {
				if m.Valid {
					valid = append(valid, m.Name)
				}
			}
			assert.Equal(t, tt.models, valid)
		})
	}
}
