package targets_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cairnops/cairn/targets"
)

func TestCheckFileName(t *testing.T) {
	for _, ok := range []string{"model.safetensors", "README.md", "current", "weights-00001-of-00002.bin", strings.Repeat("a", 255)} {
		assert.NoError(t, targets.CheckFileName(ok), ok)
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/b", `a\b`, ".hidden", "a\x00b", "a\nb", strings.Repeat("a", 256)} {
		assert.ErrorIs(t, targets.CheckFileName(bad), targets.ErrFileName, bad)
	}
}
