package schema_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/schema"
)

// TestQuickstartCopy keeps the one source of truth: the schema that
// examples/quickstart holds in cue.mod/pkg for plain `cue vet` is the
// embedded schema, file for file. After changing schema/*.cue, copy them:
//
//	cp schema/*.cue examples/quickstart/cue.mod/pkg/github.com/cairnops/cairn/schema/
func TestQuickstartCopy(t *testing.T) {
	want, err := schema.Files()
	require.NoError(t, err)
	require.NotEmpty(t, want)
	dir := filepath.Join("..", "examples", "quickstart", "cue.mod", "pkg", filepath.FromSlash(schema.ImportPath))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got, wantNames []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	for name := range want {
		wantNames = append(wantNames, name)
	}
	sort.Strings(wantNames)
	require.Equal(t, wantNames, got, "the files in %s", dir)
	for name, b := range want {
		copied, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, string(b), string(copied), "%s is a stale copy of schema/%s", filepath.Join(dir, name), name)
	}
}
