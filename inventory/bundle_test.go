package inventory

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBundlePath(t *testing.T) {
	assert.Equal(t, "models/fraud-detector/signatures/2.3.0.sigstore.json", BundlePath("fraud-detector", "2.3.0"))
}
