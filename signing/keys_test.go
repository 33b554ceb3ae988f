package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// digestOf returns the Digest of s.
func digestOf(t testing.TB, s string) string {
	t.Helper()
	d, _, err := Digest(t.Context(), strings.NewReader(s))
	require.NoError(t, err)
	return d
}

// writeFile writes data to name in a fresh temp dir and returns the path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// staticPassword returns a password callback that counts its calls.
func staticPassword(pw string, calls *int) func() ([]byte, error) {
	return func() ([]byte, error) {
		*calls++
		return []byte(pw), nil
	}
}

func TestGenerateKey(t *testing.T) {
	tests := []struct {
		name     string
		password string
		pemType  string
	}{
		{"plain", "", "PRIVATE KEY"},
		{"encrypted", "correct horse", "ENCRYPTED SIGSTORE PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			priv, pub, err := GenerateKey([]byte(tt.password))
			require.NoError(t, err)
			block, _ := pem.Decode(priv)
			require.NotNil(t, block)
			assert.Equal(t, tt.pemType, block.Type)

			pubBlock, _ := pem.Decode(pub)
			require.NotNil(t, pubBlock)
			assert.Equal(t, "PUBLIC KEY", pubBlock.Type)
			pubKey, err := LoadPublicKey(writeFile(t, "cosign.pub", pub))
			require.NoError(t, err)
			ec, ok := pubKey.(*ecdsa.PublicKey)
			require.True(t, ok, "public key is %T", pubKey)
			assert.Equal(t, elliptic.P256(), ec.Curve)

			calls := 0
			sv, err := LoadSigner(t.Context(), writeFile(t, "cosign.key", priv), staticPassword(tt.password, &calls))
			require.NoError(t, err)
			got, err := sv.PublicKey()
			require.NoError(t, err)
			assert.True(t, ec.Equal(got), "loaded private key does not match the public key")
			if tt.password == "" {
				assert.Zero(t, calls, "password asked for an unencrypted key")
			} else {
				assert.Equal(t, 1, calls)
			}
		})
	}
}

func TestLoadSignerEncrypted(t *testing.T) {
	priv, _, err := GenerateKey([]byte("s3cret"))
	require.NoError(t, err)
	path := writeFile(t, "cosign.key", priv)

	calls := 0
	_, err = LoadSigner(t.Context(), path, staticPassword("wrong", &calls))
	require.ErrorIs(t, err, ErrKeyPassword)
	assert.Equal(t, 1, calls)
	assert.NotContains(t, err.Error(), "\n")

	_, err = LoadSigner(t.Context(), path, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "encrypted")

	boom := errors.New("no tty")
	_, err = LoadSigner(t.Context(), path, func() ([]byte, error) { return nil, boom })
	require.ErrorIs(t, err, boom)

	_, err = LoadSigner(t.Context(), path, staticPassword("s3cret", &calls))
	require.NoError(t, err)
}

func TestLoadSignerFormats(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p384Key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pkcs8 := func(k crypto.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	require.NoError(t, err)

	tests := []struct {
		name string
		pem  []byte
		pub  crypto.PublicKey
	}{
		{"pkcs8 p256", pkcs8(ecKey), &ecKey.PublicKey},
		{"ec private key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), &ecKey.PublicKey},
		{"pkcs8 p384", pkcs8(p384Key), &p384Key.PublicKey},
		{"pkcs8 rsa", pkcs8(rsaKey), &rsaKey.PublicKey},
		{"rsa private key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), &rsaKey.PublicKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sv, err := LoadSigner(t.Context(), writeFile(t, "k.pem", tt.pem), func() ([]byte, error) {
				t.Fatal("password asked for a plain key")
				return nil, nil
			})
			require.NoError(t, err)
			pub, err := sv.PublicKey()
			require.NoError(t, err)
			assert.True(t, tt.pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub))

			// The loaded key signs bundles that verify against its public key.
			digest := digestOf(t, "model weights")
			b, err := Sign(t.Context(), sv, digest)
			require.NoError(t, err)
			res, err := Verify(t.Context(), b, digest, Trust{Keys: []crypto.PublicKey{tt.pub}})
			require.NoError(t, err)
			id, err := KeyID(tt.pub)
			require.NoError(t, err)
			assert.Equal(t, id, res.Identity)
		})
	}
}

func TestSignRefusesEd25519(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	sv, err := LoadSigner(t.Context(), writeFile(t, "k.pem", pkcs8PEM(t, priv)), nil)
	require.NoError(t, err)
	_, err = Sign(t.Context(), sv, digestOf(t, "x"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ed25519")
}

func pkcs8PEM(t *testing.T, k crypto.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestLoadSignerBadInput(t *testing.T) {
	tests := []struct {
		name string
		ref  func(t *testing.T) string
	}{
		{"missing file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.key") }},
		{"not pem", func(t *testing.T) string { return writeFile(t, "k", []byte("hello")) }},
		{"garbage pem", func(t *testing.T) string {
			return writeFile(t, "k", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}))
		}},
		{"unknown pem type", func(t *testing.T) string {
			return writeFile(t, "k", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))
		}},
		{"unregistered kms", func(*testing.T) string { return "nosuchkms://key/1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sv, err := LoadSigner(t.Context(), tt.ref(t), nil)
			require.Error(t, err)
			assert.Nil(t, sv)
		})
	}
}

func TestLoadPublicKeyBadInput(t *testing.T) {
	_, err := LoadPublicKey(filepath.Join(t.TempDir(), "missing.pub"))
	require.Error(t, err)
	_, err = LoadPublicKey(writeFile(t, "x.pub", []byte("not a key")))
	require.Error(t, err)
	priv, _, err := GenerateKey(nil)
	require.NoError(t, err)
	_, err = LoadPublicKey(writeFile(t, "x.pub", priv))
	require.Error(t, err, "a private key is not a public key")
}
