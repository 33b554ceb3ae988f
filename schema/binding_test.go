package schema_test

import (
	"testing"

	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/schema"
)

func TestDropBinding(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
		found           bool
	}{
		{"binding only", "package model\n\nimport \"github.com/cairnops/cairn/schema\"\n\nschema.#Model\n", "package model\n", true},
		{"aliased, with data and other imports", "package model\n\nimport (\n\t\"strings\"\n\ts \"github.com/cairnops/cairn/schema\"\n)\n\ns.#Model\n\ncard: title: strings.ToUpper(\"x\")\n",
			"package model\n\nimport (\n\t\"strings\"\n)\n\ncard: title: strings.ToUpper(\"x\")\n", true},
		{"no binding", "package model\n\ncard: title: \"x\"\n", "package model\n\ncard: title: \"x\"\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parser.ParseFile("f.cue", tc.src, parser.ParseComments)
			require.NoError(t, err)
			assert.Equal(t, tc.found, schema.DropBinding(f))
			b, err := format.Node(f)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(b))
		})
	}
}
