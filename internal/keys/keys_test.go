package keys

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSorted(t *testing.T) {
	assert.Equal(t, []string{"", "a", "b", "c"}, Sorted(map[string]int{"c": 1, "a": 2, "": 3, "b": 4}))
	assert.Empty(t, Sorted(map[string]bool(nil)))
}
