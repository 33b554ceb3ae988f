package main

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

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
// has the artifact uri pinned to digest, and bundle as its signature when
// not nil, and loads it.
func writeInventory(t *testing.T, uri, digest string, files map[string][]byte) *inventory.Inventory {
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
	inv, err := inventory.Load(t.Context(), src, inventory.Options{})
	require.NoError(t, err)
	require.Empty(t, inv.Problems)
	return inv
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func testGlobals() *globalOptions {
	return &globalOptions{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
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
	artifact := []byte("model weights\n")
	inv := writeInventory(t, "file://artifacts/m.onnx", sha(artifact), map[string][]byte{
		"artifacts/m.onnx":                        artifact,
		"models/m/signatures/1.1.0.sigstore.json": keylessBundle(t, vs, subject, issuer, artifact),
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
			got := verifyInventory(t.Context(), testGlobals(), inv, nil, tt.trust, "", "")
			require.Len(t, got, 1)
			c := got[0]
			assert.Equal(t, tt.wantStatus, c.Status, c.String())
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
	artifact := []byte("weights served over https\n")
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
	bundle, err := signing.Sign(t.Context(), sv, sha(artifact))
	require.NoError(t, err)
	trust := signing.Trust{Keys: []crypto.PublicKey{pub}}

	tests := []struct {
		name string
		path string
		body []byte
		want string
	}{
		{"served as pinned", "/m.onnx", artifact, "ok m@1.1.0 key:"},
		{"served tampered", "/m.onnx", []byte("weights served over httpS\n"), "invalid m@1.1.0: artifact " + srv.URL + "/m.onnx does not match the pinned digest: want " + sha(artifact)},
		{"not found", "/gone.onnx", artifact, "invalid m@1.1.0: fetching " + srv.URL + "/gone.onnx: 404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body.Store(&tt.body)
			inv := writeInventory(t, srv.URL+tt.path, sha(artifact), map[string][]byte{
				"models/m/signatures/1.1.0.sigstore.json": bundle,
			})
			got := verifyInventory(t.Context(), testGlobals(), inv, srv.Client(), trust, "m", "")
			require.Len(t, got, 1)
			assert.True(t, strings.HasPrefix(got[0].String(), tt.want), got[0].String())
		})
	}
}

// keylessBundle signs artifact with a Fulcio-style certificate for subject/issuer from vs and
// returns a v0.3 bundle JSON with the certificate, an RFC 3161 timestamp and a Rekor entry
// carrying both an inclusion promise and an inclusion proof, as the public-good instance writes.
func keylessBundle(t *testing.T, vs *ca.VirtualSigstore, subject, issuer string, artifact []byte) []byte {
	t.Helper()
	entity, err := vs.Sign(subject, issuer, artifact)
	require.NoError(t, err)

	vc, err := entity.VerificationContent()
	require.NoError(t, err)
	leaf := vc.Certificate()
	require.NotNil(t, leaf)
	sc, err := entity.SignatureContent()
	require.NoError(t, err)
	msg := sc.MessageSignatureContent()
	require.NotNil(t, msg)
	tsrs, err := entity.Timestamps()
	require.NoError(t, err)
	entries, err := entity.TlogEntries()
	require.NoError(t, err)
	require.Len(t, entries, 1)

	// Rebuild the log entry at index 0 with its promise (SET) and a proof, since the entity's
	// proto form carries neither.
	tle := entries[0].TransparencyLogEntry()
	body := tle.GetCanonicalizedBody()
	logID, err := vs.RekorLogID()
	require.NoError(t, err)
	set, err := vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(body),
		IntegratedTime: tle.GetIntegratedTime(),
		LogIndex:       0,
		LogID:          logID,
	})
	require.NoError(t, err)
	proof, err := vs.GetInclusionProof(body)
	require.NoError(t, err)
	rootHash, err := hex.DecodeString(*proof.RootHash)
	require.NoError(t, err)
	hashes := make([][]byte, len(proof.Hashes))
	for i, h := range proof.Hashes {
		hashes[i], err = hex.DecodeString(h)
		require.NoError(t, err)
	}
	logIDRaw, err := hex.DecodeString(logID)
	require.NoError(t, err)

	var timestamps []*protocommon.RFC3161SignedTimestamp
	for _, ts := range tsrs {
		timestamps = append(timestamps, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
	}
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_Certificate{
				Certificate: &protocommon.X509Certificate{RawBytes: leaf.Raw},
			},
			TlogEntries: []*protorekor.TransparencyLogEntry{{
				LogIndex:          0,
				LogId:             &protocommon.LogId{KeyId: logIDRaw},
				KindVersion:       &protorekor.KindVersion{Kind: "hashedrekord", Version: "0.0.1"},
				IntegratedTime:    tle.GetIntegratedTime(),
				InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: set},
				CanonicalizedBody: body,
				InclusionProof: &protorekor.InclusionProof{
					LogIndex:   *proof.LogIndex,
					RootHash:   rootHash,
					TreeSize:   *proof.TreeSize,
					Hashes:     hashes,
					Checkpoint: &protorekor.Checkpoint{Envelope: *proof.Checkpoint},
				},
			}},
			TimestampVerificationData: &protobundle.TimestampVerificationData{Rfc3161Timestamps: timestamps},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: msg.Digest()},
			Signature:     msg.Signature(),
		}},
	}
	out, err := protojson.Marshal(pb)
	require.NoError(t, err)
	return out
}
