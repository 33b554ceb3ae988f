package signing

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cairnops/cairn/signing/signingtest"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newKey generates a key pair (encrypted when password is set) and loads both halves from disk.
func newKey(t *testing.T, password string) (signerPath string, pub crypto.PublicKey) {
	t.Helper()
	priv, pubPEM, err := GenerateKey([]byte(password))
	require.NoError(t, err)
	pub, err = LoadPublicKey(writeFile(t, "cosign.pub", pubPEM))
	require.NoError(t, err)
	return writeFile(t, "cosign.key", priv), pub
}

// signWith loads the key at path and signs digest with it.
func signWith(t *testing.T, path, password, digest string) []byte {
	t.Helper()
	sv, err := LoadSigner(t.Context(), path, func() ([]byte, error) { return []byte(password), nil })
	require.NoError(t, err)
	b, err := Sign(t.Context(), sv, digest)
	require.NoError(t, err)
	return b
}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, password := range []string{"", "hunter2"} {
		t.Run("password="+password, func(t *testing.T) {
			path, pub := newKey(t, password)
			digest := digestOf(t, "weights v1")
			b := signWith(t, path, password, digest)

			var doc map[string]any
			require.NoError(t, json.Unmarshal(b, &doc))
			assert.Equal(t, "application/vnd.dev.sigstore.bundle.v0.3+json", doc["mediaType"])
			id, err := KeyID(pub)
			require.NoError(t, err)
			hint := doc["verificationMaterial"].(map[string]any)["publicKey"].(map[string]any)["hint"]
			assert.Equal(t, strings.TrimPrefix(id, "key:"), hint)

			res, err := Verify(t.Context(), b, digest, Trust{Keys: []crypto.PublicKey{pub}})
			require.NoError(t, err)
			assert.Equal(t, Result{Identity: id, Digest: digest}, res)

			// The bundle is a regular sigstore-go bundle with a message signature over the digest.
			var pb bundle.Bundle
			require.NoError(t, pb.UnmarshalJSON(b))
			raw, err := hex.DecodeString(strings.TrimPrefix(digest, "sha256:"))
			require.NoError(t, err)
			assert.Equal(t, raw, pb.GetMessageSignature().GetMessageDigest().GetDigest())

			// ... so sigstore-go verifies it against the artifact itself, as cosign verify-blob does.
			sv, err := signature.LoadVerifier(pub, crypto.SHA256)
			require.NoError(t, err)
			key := root.NewExpiringKey(sv, time.Time{}, time.Time{})
			v, err := verify.NewVerifier(root.NewTrustedPublicKeyMaterial(
				func(string) (root.TimeConstrainedVerifier, error) { return key, nil }), verify.WithNoObserverTimestamps())
			require.NoError(t, err)
			_, err = v.Verify(&pb, verify.NewPolicy(verify.WithArtifact(strings.NewReader("weights v1")), verify.WithKey()))
			require.NoError(t, err)
			_, err = v.Verify(&pb, verify.NewPolicy(verify.WithArtifact(strings.NewReader("weights v2")), verify.WithKey()))
			require.Error(t, err)
		})
	}
}

func TestVerifyTriesEveryKey(t *testing.T) {
	path, pub := newKey(t, "")
	_, other1 := newKey(t, "")
	_, other2 := newKey(t, "")
	digest := digestOf(t, "weights")
	b := signWith(t, path, "", digest)

	res, err := Verify(t.Context(), b, digest, Trust{Keys: []crypto.PublicKey{other1, pub, other2}})
	require.NoError(t, err)
	id, err := KeyID(pub)
	require.NoError(t, err)
	assert.Equal(t, id, res.Identity)

	// A bundle whose hint names no trusted key still verifies by trying each key.
	b = editBundle(t, b, func(doc map[string]any) {
		doc["verificationMaterial"].(map[string]any)["publicKey"].(map[string]any)["hint"] = "something-else"
	})
	res, err = Verify(t.Context(), b, digest, Trust{Keys: []crypto.PublicKey{other1, pub}})
	require.NoError(t, err)
	assert.Equal(t, id, res.Identity)
}

// editBundle decodes a bundle as generic JSON, lets edit change it and encodes it again.
func editBundle(t *testing.T, b []byte, edit func(doc map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	edit(doc)
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	return out
}

func rawDigest(t *testing.T, digest string) []byte {
	t.Helper()
	raw, err := hex.DecodeString(strings.TrimPrefix(digest, "sha256:"))
	require.NoError(t, err)
	return raw
}

func TestVerifyFailures(t *testing.T) {
	path, pub := newKey(t, "")
	_, otherPub := newKey(t, "")
	digest := digestOf(t, "weights v1")
	otherDigest := digestOf(t, "weights v2")
	good := signWith(t, path, "", digest)
	trust := Trust{Keys: []crypto.PublicKey{pub}}

	messageSignature := func(doc map[string]any) map[string]any {
		return doc["messageSignature"].(map[string]any)
	}
	// tampered claims the bundle signs otherDigest, without re-signing.
	tampered := editBundle(t, good, func(doc map[string]any) {
		messageSignature(doc)["messageDigest"].(map[string]any)["digest"] =
			base64.StdEncoding.EncodeToString(rawDigest(t, otherDigest))
	})
	badSig := editBundle(t, good, func(doc map[string]any) {
		sig, err := base64.StdEncoding.DecodeString(messageSignature(doc)["signature"].(string))
		require.NoError(t, err)
		sig[len(sig)-1] ^= 0xff
		messageSignature(doc)["signature"] = base64.StdEncoding.EncodeToString(sig)
	})

	tests := []struct {
		name   string
		bundle []byte
		digest string
		trust  Trust
		want   error
	}{
		{"no trust", good, digest, Trust{}, ErrNoTrust},
		{"root without identities", good, digest, Trust{Root: mustVirtualSigstore(t)}, ErrNoTrust},
		{"bundle of another digest", signWith(t, path, "", otherDigest), digest, trust, ErrDigestMismatch},
		{"tampered digest checked against the original", tampered, digest, trust, ErrDigestMismatch},
		{"tampered digest checked against the claimed one", tampered, otherDigest, trust, ErrUntrusted},
		{"tampered signature", badSig, digest, trust, ErrUntrusted},
		{"wrong trusted key", good, digest, Trust{Keys: []crypto.PublicKey{otherPub}}, ErrUntrusted},
		{"corrupted json", good[:len(good)/2], digest, trust, ErrBundleInvalid},
		{"empty", nil, digest, trust, ErrBundleInvalid},
		{"not a bundle", []byte(`{"hello":"world"}`), digest, trust, ErrBundleInvalid},
		{"empty object", []byte(`{}`), digest, trust, ErrBundleInvalid},
		{"wrong media type", editBundle(t, good, func(doc map[string]any) { doc["mediaType"] = "text/plain" }), digest, trust, ErrBundleInvalid},
		{"no signature content", editBundle(t, good, func(doc map[string]any) { delete(doc, "messageSignature") }), digest, trust, ErrBundleInvalid},
		{"no verification material", editBundle(t, good, func(doc map[string]any) { delete(doc, "verificationMaterial") }), digest, trust, ErrBundleInvalid},
		{"keyless bundle with only keys", signingtest.KeylessBundle(t, mustVirtualSigstore(t), "a@example.com", "https://issuer.example", []byte("x")), digestOf(t, "x"), trust, ErrUntrusted},
	}
	sentinels := []error{ErrNoTrust, ErrBundleInvalid, ErrDigestMismatch, ErrUntrusted}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verify(t.Context(), tt.bundle, tt.digest, tt.trust)
			require.ErrorIs(t, err, tt.want)
			assert.Equal(t, Result{}, res)
			assert.NotContains(t, err.Error(), "\n", "error is not one line")
			t.Log(err)
			for _, s := range sentinels {
				if s != tt.want {
					assert.NotErrorIs(t, err, s)
				}
			}
		})
	}
}

func TestBadDigestArgument(t *testing.T) {
	path, pub := newKey(t, "")
	sv, err := LoadSigner(t.Context(), path, nil)
	require.NoError(t, err)
	good := signWith(t, path, "", digestOf(t, "x"))
	for _, d := range []string{"", "sha256:", "sha256:abc", "md5:" + strings.Repeat("a", 64),
		"sha256:" + strings.Repeat("A", 64), "sha256:" + strings.Repeat("g", 64)} {
		_, err := Sign(t.Context(), sv, d)
		require.Error(t, err, d)
		_, err = Verify(t.Context(), good, d, Trust{Keys: []crypto.PublicKey{pub}})
		require.Error(t, err, d)
	}
}

func TestParseIdentity(t *testing.T) {
	tests := []struct {
		in      string
		want    Identity
		wantErr bool
	}{
		{"https://token.actions.githubusercontent.com=https://github.com/o/r/.github/workflows/sign.yml@refs/heads/main",
			Identity{"https://token.actions.githubusercontent.com", "https://github.com/o/r/.github/workflows/sign.yml@refs/heads/main"}, false},
		{"https://accounts.google.com=me@example.com", Identity{"https://accounts.google.com", "me@example.com"}, false},
		{"https://issuer=https://x/?a=b", Identity{"https://issuer", "https://x/?a=b"}, false},
		{"no-separator", Identity{}, true},
		{"=subject", Identity{}, true},
		{"issuer=", Identity{}, true},
		{"", Identity{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseIdentity(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.in, got.String())
		})
	}
}

func mustVirtualSigstore(t *testing.T) *ca.VirtualSigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	require.NoError(t, err)
	return vs
}

func TestVerifyKeyless(t *testing.T) {
	vs := mustVirtualSigstore(t)
	const (
		issuer  = "https://token.actions.githubusercontent.com"
		subject = "https://github.com/acme/models/.github/workflows/sign.yml@refs/heads/main"
	)
	artifact := []byte("model weights")
	sum := sha256.Sum256(artifact)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	b := signingtest.KeylessBundle(t, vs, subject, issuer, artifact)

	right := Identity{Issuer: issuer, Subject: subject}
	wrongSubject := Identity{Issuer: issuer, Subject: "https://github.com/evil/models/.github/workflows/sign.yml@refs/heads/main"}
	wrongIssuer := Identity{Issuer: "https://accounts.google.com", Subject: subject}

	t.Run("right identity", func(t *testing.T) {
		res, err := Verify(t.Context(), b, digest, Trust{Root: vs, Identities: []Identity{right}})
		require.NoError(t, err)
		assert.Equal(t, Result{Identity: issuer + "=" + subject, Digest: digest, Keyless: true}, res)
	})
	t.Run("one of several identities", func(t *testing.T) {
		res, err := Verify(t.Context(), b, digest, Trust{Root: vs, Identities: []Identity{wrongSubject, right}})
		require.NoError(t, err)
		assert.Equal(t, issuer+"="+subject, res.Identity)
	})
	tests := []struct {
		name   string
		trust  Trust
		digest string
		want   error
	}{
		{"wrong subject", Trust{Root: vs, Identities: []Identity{wrongSubject}}, digest, ErrUntrusted},
		{"wrong issuer", Trust{Root: vs, Identities: []Identity{wrongIssuer}}, digest, ErrUntrusted},
		{"other sigstore", Trust{Root: mustVirtualSigstore(t), Identities: []Identity{right}}, digest, ErrUntrusted},
		{"other digest", Trust{Root: vs, Identities: []Identity{right}}, digestOf(t, "other"), ErrDigestMismatch},
		{"keys only", Trust{Keys: []crypto.PublicKey{mustPub(t)}}, digest, ErrUntrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(t.Context(), b, tt.digest, tt.trust)
			require.ErrorIs(t, err, tt.want)
			assert.NotContains(t, err.Error(), "\n")
			t.Log(err)
		})
	}
}

func mustPub(t *testing.T) crypto.PublicKey {
	t.Helper()
	_, pub := newKey(t, "")
	return pub
}
