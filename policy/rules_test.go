package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMutableURI(t *testing.T) {
	tests := []struct {
		uri  string
		want string // a part of the reason; "" means immutable
	}{
		{"file://artifacts/m/1.0.0/model.onnx", ""},
		{"https://github.com/acme/m/releases/download/v1.2.0/model.onnx", ""},
		{"https://huggingface.co/acme/m/resolve/4f0c2a9/model.onnx", ""},
		{"s3://bucket/m/1.2.0/model.onnx", ""},
		{"oci://ghcr.io/acme/m@sha256:0000000000000000000000000000000000000000000000000000000000000000", ""},
		{"http://models.example/m.onnx", "plain http"},
		{"ftp://models.example/m.onnx", "scheme ftp://"},
		{"gs://bucket/m.onnx", "scheme gs://"},
		{"models/m.onnx", "not a URI"},
		{"https://huggingface.co/acme/m/resolve/main/model.onnx", `moving reference "main"`},
		{"https://github.com/acme/m/raw/master/model.onnx", `moving reference "master"`},
		{"https://github.com/acme/m/raw/refs/heads/release/model.onnx", "refs/heads"},
		{"https://example.com/models/m@main/model.onnx", "@main"},
		{"https://registry.example/v2/acme/m:latest/blob", ":latest"},
		{"https://example.com/download?ref=main", `"main"`},
		{"s3://bucket/m/latest/model.onnx", `"latest"`},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			got := mutableURI(tt.uri)
			if tt.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tt.want)
		})
	}
}

func TestMessagePath(t *testing.T) {
	tests := []struct {
		msg  string
		want []string
	}{
		{"card.owners: name a team", []string{"card", "owners"}},
		{`versions."2.3.0".artifact.uri: use https`, []string{"versions", "2.3.0", "artifact", "uri"}},
		{"card.data.training.0.pii: no", []string{"card", "data", "training", "0", "pii"}},
		{"owners must be teams", nil},
		{"the owner x: is not a team", nil},
		{": empty", nil},
		{"card..owners: x", nil},
		{`versions."2.3.0: unterminated`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			assert.Equal(t, tt.want, messagePath(tt.msg))
		})
	}
}
