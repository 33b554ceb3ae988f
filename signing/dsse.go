package signing

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"
)

// InTotoPayloadType is the DSSE payload type of an in-toto statement.
const InTotoPayloadType = "application/vnd.in-toto+json"

// SignStatement signs statement, an in-toto Statement in JSON, with s and returns a Sigstore
// bundle (v0.3) serialised as JSON whose content is a DSSE envelope of payload type
// InTotoPayloadType, with a public-key verification material whose hint is the key's
// fingerprint, as Sign writes it. Sigstore-go computes the DSSE pre-authentication encoding;
// the key signs its sha256. Signing needs no network. cosign verify-blob-attestation checks such
// a bundle with the public key.
func SignStatement(ctx context.Context, s signature.SignerVerifier, statement []byte) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("signing: no signer")
	}
	pub, err := s.PublicKey(options.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("reading signer public key: %w", err)
	}
	hint, err := fingerprint(pub)
	if err != nil {
		return nil, err
	}
	kp := &messageKeypair{keypair{sv: s, pub: pub, hint: hint}}
	b, err := sign.Bundle(&sign.DSSEData{Data: statement, PayloadType: InTotoPayloadType}, kp, sign.BundleOptions{Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("signing statement: %w", err)
	}
	out, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encoding bundle: %w", err)
	}
	return out, nil
}

// messageKeypair is a keypair whose content is a whole message (the DSSE pre-authentication
// encoding), not a digest: the signer hashes it.
type messageKeypair struct{ keypair }

var _ sign.Keypair = (*messageKeypair)(nil)

// SignData signs message and returns the signature and the message's sha256.
func (k *messageKeypair) SignData(ctx context.Context, message []byte) ([]byte, []byte, error) {
	sig, err := k.sv.SignMessage(bytes.NewReader(message), options.WithContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("signing: %w", err)
	}
	sum := sha256.Sum256(message)
	return sig, sum[:], nil
}

// VerifyStatement checks that bundleJSON is a Sigstore bundle holding a DSSE envelope of an
// in-toto statement (payload type InTotoPayloadType) whose signature verifies against one of
// keys, and whose statement has subject digest ("sha256:<64 hex>"). It returns the verified
// statement (the envelope's payload) and who signed it. Errors wrap ErrNoTrust,
// ErrBundleInvalid, ErrDigestMismatch or ErrUntrusted, except for a malformed digest
// argument. It works offline.
func VerifyStatement(ctx context.Context, bundleJSON []byte, digest string, keys []crypto.PublicKey) ([]byte, Result, error) {
	if len(keys) == 0 {
		return nil, Result{}, fmt.Errorf("verifying: %w", ErrNoTrust)
	}
	raw, err := parseDigest(digest)
	if err != nil {
		return nil, Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, Result{}, fmt.Errorf("verifying: %w", err)
	}
	b := &bundle.Bundle{}
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return nil, Result{}, fmt.Errorf("%w: %s", ErrBundleInvalid, strings.TrimPrefix(oneLine(err), "invalid bundle: "))
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return nil, Result{}, fmt.Errorf("%w: no DSSE envelope (a message signature signs an artifact, not a statement)", ErrBundleInvalid)
	}
	if env.GetPayloadType() != InTotoPayloadType {
		return nil, Result{}, fmt.Errorf("%w: DSSE payload type %q, want %q", ErrBundleInvalid, env.GetPayloadType(), InTotoPayloadType)
	}
	pk := b.GetVerificationMaterial().GetPublicKey()
	if pk == nil {
		return nil, Result{}, fmt.Errorf("%w: the bundle is not signed with a key", ErrUntrusted)
	}
	res, err := verifyKey(b, raw, digest, pk.GetHint(), keys)
	if err != nil {
		return nil, Result{}, err
	}
	return env.GetPayload(), res, nil
}
