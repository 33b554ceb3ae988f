package signing

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"fmt"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"
)

// Sign signs the artifact digest ("sha256:<64 hex>") with s and returns a Sigstore bundle
// (media type application/vnd.dev.sigstore.bundle.v0.3+json) serialised as JSON. The bundle holds
// a message signature over the digest and a public-key verification material whose hint is the
// key's fingerprint (hex sha256 of its PKIX DER, KeyID without "key:"). Signing needs no network.
// Ed25519 keys are refused: a pure Ed25519 signature cannot be made over a digest alone.
func Sign(ctx context.Context, s signature.SignerVerifier, digest string) ([]byte, error) {
	raw, err := parseDigest(digest)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("signing: no signer")
	}
	pub, err := s.PublicKey(options.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("reading signer public key: %w", err)
	}
	if _, ok := pub.(ed25519.PublicKey); ok {
		return nil, fmt.Errorf("signing: ed25519 keys cannot sign a digest; use an ECDSA or RSA key")
	}
	hint, err := fingerprint(pub)
	if err != nil {
		return nil, err
	}
	kp := &keypair{sv: s, pub: pub, hint: hint}
	b, err := sign.Bundle(&sign.PlainData{Data: raw}, kp, sign.BundleOptions{Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", digest, err)
	}
	out, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encoding bundle: %w", err)
	}
	return out, nil
}

// keypair adapts a sigstore SignerVerifier (file key or KMS) to sigstore-go's sign.Keypair. The
// content it is given is already the sha256 digest of the artifact, so it signs it as a
// prehashed digest rather than hashing it again.
type keypair struct {
	sv   signature.SignerVerifier
	pub  crypto.PublicKey
	hint string
}

var _ sign.Keypair = (*keypair)(nil)

func (k *keypair) GetHashAlgorithm() protocommon.HashAlgorithm {
	return protocommon.HashAlgorithm_SHA2_256
}

func (k *keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	d, err := signature.GetDefaultPublicKeyDetails(k.pub)
	if err != nil {
		return protocommon.PublicKeyDetails_PUBLIC_KEY_DETAILS_UNSPECIFIED
	}
	return d
}

func (k *keypair) GetHint() []byte { return []byte(k.hint) }

func (k *keypair) GetKeyAlgorithm() string {
	d, err := signature.GetDefaultAlgorithmDetails(k.pub)
	if err != nil {
		return ""
	}
	switch d.GetKeyType() {
	case signature.ECDSA:
		return "ECDSA"
	case signature.RSA:
		return "RSA"
	default:
		return ""
	}
}

func (k *keypair) GetPublicKey() crypto.PublicKey { return k.pub }

func (k *keypair) GetPublicKeyPem() (string, error) {
	p, err := cryptoutils.MarshalPublicKeyToPEM(k.pub)
	if err != nil {
		return "", err
	}
	return string(p), nil
}

// SignData signs digest (the raw sha256 of the artifact) and returns the signature and digest.
func (k *keypair) SignData(ctx context.Context, digest []byte) ([]byte, []byte, error) {
	sig, err := k.sv.SignMessage(bytes.NewReader(nil),
		options.WithDigest(digest), options.WithCryptoSignerOpts(crypto.SHA256), options.WithContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("signing digest: %w", err)
	}
	return sig, digest, nil
}
