package inventory

import (
	"context"
	"github.com/stretchr/testify/require"
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
		{name: "import of a package that is not there", files: map[string]string{
			"models/m/model.cue": "package model\n\nimport \"example.com/nowhere\"\n\nx: nowhere.y\n",
		}, want: []string{
			`m | models/m/model.cue:3:8: package "example.com/nowhere" imported but not defined in `,
			`m | models/m/model.cue:5:4: x: import "example.com/nowhere" not found`,
		}},
		{name: "defaults apply to every model", files: map[string]string{
			"models/defaults.cue": "package model\n\ncard: framework: \"sklearn\"\n",
			"models/m/model.cue":  validModel,
			"models/n/model.cue":  validModel,
		}, want: []string{
			`m | models/m/model.cue:10:2: card.framework: conflicting values "sklearn" and "onnx"`,
			`n | models/n/model.cue:10:2: card.framework: conflicting values "sklearn" and "onnx"`,
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

// TestModelFolderLinks counts a model folder that is a symbolic link only
// while it resolves to a folder inside the repository.
func TestModelFolderLinks(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"outside/m/model.cue":      validModel,
		"repo/inventory.cue":       "package inventory\n",
		"repo/models/defaults.cue": licenseDefault,
		"repo/shared/m/model.cue":  validModel,
	})
	symlink(t, root, "../shared/m", "repo/models/alias")
	symlink(t, root, "../../outside/m", "repo/models/escape")
	symlink(t, root, "../nowhere", "repo/models/dangling")
	symlink(t, root, "../inventory.cue", "repo/models/file")
	inv := loadDir(t, root+"/repo")
	assert.Equal(t, []string{
		`dangling | models/dangling: symbolic link leaves the repository or does not resolve`,
		`escape | models/escape: symbolic link leaves the repository or does not resolve`,
	}, problemLines(inv.Problems))
	require.Len(t, inv.Models, 1)
	assert.Equal(t, "alias", inv.Models[0].Name)
	assert.Equal(t, "models/alias", inv.Models[0].Dir)
	assert.True(t, inv.Models[0].Valid)
	assert.Equal(t, []string{"models/alias/model.cue", "models/defaults.cue"}, inv.Models[0].Files)
}

// TestLoadOnly evaluates the named models only, and reports nothing of the
// others.
func TestLoadOnly(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inventory.cue":       "package inventory\n",
		"models/defaults.cue": licenseDefault,
		"models/a/model.cue":  validModel,
		"models/b/model.cue":  "package model\n\ncard: {\n",
		"models/c/model.cue":  validModel,
	})
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	inv, err := Load(context.Background(), src, Options{Only: []string{"c", "a"}})
	require.NoError(t, err)
	assert.Empty(t, inv.Problems)
	require.Len(t, inv.Models, 2)
	assert.Equal(t, "a", inv.Models[0].Name)
	assert.Equal(t, "c", inv.Models[1].Name)
	assert.Nil(t, inv.Model("b"))
	assert.Nil(t, inv.Model("d"))
	assert.Nil(t, inv.Model("0"))
	assert.Same(t, inv.Models[1], inv.Model("c"))
}
