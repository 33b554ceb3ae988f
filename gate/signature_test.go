package gate_test

import (
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairnops/cairn/signing/signingtest"

	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/signing"
)

const testModel = `package model

card: {
	title:       "Test model"
	description: "A model for tests."
	owners: ["@acme/ml"]
	risk: tier: "low"
	intendedUse: "Tests."
	limitations: []
	license:   "MIT"
	framework: "onnx"
	data: training: [{uri: "s3://bucket/train.parquet"}]
	review: lastReviewed: "2026-10-01"
}

versions: "1.1.0": artifact: {
	uri:    %q
	digest: %q
}

stages: production: "1.1.0"
`

// writeInventory writes a one-model inventory whose 1.1.0 (in production)
// has the artifact uri pinned to digest, and the files (a bundle, an
// artifact), and opens it.
func writeInventory(t *testing.T, uri, digest string, files map[string][]byte) *inventory.Source {
	t.Helper()
	dir := t.TempDir()
	files["inventory.cue"] = []byte("package inventory\n\nsigning: required: [\"production\"]\n")
	files["models/m/model.cue"] = []byte(fmt.Sprintf(testModel, uri, digest))
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, 0o644))
	}
	src, err := inventory.OpenWorktree(dir)
	require.NoError(t, err)
	return src
}

// verifyAll returns the signature verdicts of cairn verify: every version
// with a bundle or in a signing.required stage, artifacts streamed.
func verifyAll(t *testing.T, src *inventory.Source, client *http.Client, trust signing.Trust, model string) []gate.Signature {
	t.Helper()
	v, err := gate.Check(t.Context(), src, gate.Options{Trust: trust, Model: model, Bundles: true, Artifacts: true, HTTPClient: client})
	require.NoError(t, err)
	require.Empty(t, v.Inventory.Problems)
	return v.Signatures
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TestVerifyKeyless verifies a keyless bundle made by sigstore-go's
// VirtualSigstore (Fulcio certificate, Rekor entry, RFC 3161 timestamp)
// through verify's inventory walk: it passes with the right identity and
// fails, naming model, version and reason, with a wrong subject or issuer.
func TestVerifyKeyless(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	require.NoError(t, err)
	const (
		issuer  = "https://token.actions.githubusercontent.com"
		subject = "https://github.com/acme/models/.github/workflows/sign.yml@refs/heads/main"
	)
	art := []byte("model weights\n")
	src := writeInventory(t, "file://artifacts/m.onnx", sha(art), map[string][]byte{
		"artifacts/m.onnx":                        art,
		"models/m/signatures/1.1.0.sigstore.json": signingtest.KeylessBundle(t, vs, subject, issuer, art),
	})
	other, err := ca.NewVirtualSigstore()
	require.NoError(t, err)

	tests := []struct {
		name       string
		trust      signing.Trust
		wantStatus string
		want       string // the identity when ok, a part of the reason when invalid
	}{
		{"right identity", signing.Trust{Root: vs, Identities: []signing.Identity{{Issuer: issuer, Subject: subject}}}, "ok", issuer + "=" + subject},
		{"one of several identities", signing.Trust{Root: vs, Identities: []signing.Identity{{Issuer: issuer, Subject: "x@example.com"}, {Issuer: issuer, Subject: subject}}}, "ok", issuer + "=" + subject},
		{"wrong subject", signing.Trust{Root: vs, Identities: []signing.Identity{{Issuer: issuer, Subject: "https://github.com/evil/models/.github/workflows/sign.yml@refs/heads/main"}}}, "invalid", "signature not trusted"},
		{"wrong issuer", signing.Trust{Root: vs, Identities: []signing.Identity{{Issuer: "https://accounts.google.com", Subject: subject}}}, "invalid", "signature not trusted"},
		{"other sigstore", signing.Trust{Root: other, Identities: []signing.Identity{{Issuer: issuer, Subject: subject}}}, "invalid", "signature not trusted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verifyAll(t, src, nil, tt.trust, "")
			require.Len(t, got, 1)
			c := got[0]
			assert.Equal(t, tt.wantStatus, string(c.Status), c.String())
			if tt.wantStatus == "ok" {
				assert.Equal(t, "ok m@1.1.0 "+tt.want, c.String())
				return
			}
			assert.True(t, strings.HasPrefix(c.String(), "invalid m@1.1.0: "+tt.want), c.String())
			assert.NotContains(t, c.String(), "\n")
		})
	}
}

// TestVerifyHTTPS streams https:// artifacts from a real TLS server.
func TestVerifyHTTPS(t *testing.T) {
	art := []byte("weights served over https\n")
	var body atomic.Pointer[[]byte] // what the server serves; set per case
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/m.onnx" {
			http.NotFound(w, r)
			return
		}
		w.Write(*body.Load())
	}))
	defer srv.Close()

	priv, pubPEM, err := signing.GenerateKey(nil)
	require.NoError(t, err)
	dir := t.TempDir()
	keyPath, pubPath := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	require.NoError(t, os.WriteFile(keyPath, priv, 0o600))
	require.NoError(t, os.WriteFile(pubPath, pubPEM, 0o644))
	sv, err := signing.LoadSigner(t.Context(), keyPath, nil)
	require.NoError(t, err)
	pub, err := signing.LoadPublicKey(pubPath)
	require.NoError(t, err)
	bundle, err := signing.Sign(t.Context(), sv, sha(art))
	require.NoError(t, err)
	trust := signing.Trust{Keys: []crypto.PublicKey{pub}}

	tests := []struct {
		name string
		path string
		body []byte
		want string
	}{
		{"served as pinned", "/m.onnx", art, "ok m@1.1.0 key:"},
		{"served tampered", "/m.onnx", []byte("weights served over httpS\n"), "invalid m@1.1.0: artifact " + srv.URL + "/m.onnx does not match the pinned digest: want " + sha(art)},
		{"not found", "/gone.onnx", art, "invalid m@1.1.0: fetching " + srv.URL + "/gone.onnx: 404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body.Store(&tt.body)
			src := writeInventory(t, srv.URL+tt.path, sha(art), map[string][]byte{
				"models/m/signatures/1.1.0.sigstore.json": bundle,
			})
			got := verifyAll(t, src, srv.Client(), trust, "m")
			require.Len(t, got, 1)
			assert.True(t, strings.HasPrefix(got[0].String(), tt.want), got[0].String())
		})
	}
}
