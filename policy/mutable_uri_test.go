package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestMutableURIReasons checks the whole reason mutableURI gives, for the
// references at the edges of a path segment or an OCI name.
func TestMutableURIReasons(t *testing.T) {
	tests := []struct {
		uri, want string
	}{
		{"https://example.com/models/m@main/model.onnx", "names the moving reference @main; pin a tag, a commit or a release asset"},
		{"https://example.com/@Latest/model.onnx", "names the moving reference @Latest; pin a tag, a commit or a release asset"},
		{"https://registry.example/v2/acme/m:nightly/blob", "names the moving tag :nightly; pin a tag, a commit or a release asset"},
		{"https://registry.example/:latest/blob", "names the moving tag :latest; pin a tag, a commit or a release asset"},
		{"HTTP://models.example/m.onnx", "uses plain http, which anyone on the path can change; use https://"},
		{"File://artifacts/m.onnx", ""},
		{"OCI://ghcr.io/acme/m:1.0.0", ""},
		{"https://example.com/m.onnx?ref=1.2.0&branch=Main", `asks for the moving reference "Main"; pin a tag, a commit or a release asset`},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			assert.Equal(t, tt.want, mutableURI(tt.uri))
		})
	}
}
