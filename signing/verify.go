package signing

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Sentinel errors of Verify; test them with errors.Is. Each returned error wraps exactly one.
var (
	// ErrNoTrust means no trust root was given: no keys, and no trusted root with identities.
	ErrNoTrust = errors.New("no trusted keys or keyless identities given")
	// ErrBundleInvalid means the bundle is not a well-formed Sigstore message-signature bundle.
	ErrBundleInvalid = errors.New("invalid bundle")
	// ErrDigestMismatch means the bundle signs another digest than the one asked for.
	ErrDigestMismatch = errors.New("bundle signs another digest")
	// ErrUntrusted means the signature does not verify against any trusted key or identity.
	ErrUntrusted = errors.New("signature not trusted")
)

// Trust holds trust roots given by the operator (never read from the inventory).
type Trust struct {
	Keys       []crypto.PublicKey   // key-based verification
	Root       root.TrustedMaterial // keyless: Fulcio CAs, Rekor/CT logs (from a trusted_root.json)
	Identities []Identity           // keyless: accepted certificate identities
}

// Identity is an accepted keyless signer: the OIDC issuer and the certificate subject
// (the SAN: an e-mail, or a workflow URI for GitHub Actions). Both must match exactly.
type Identity struct{ Issuer, Subject string }

// String returns "issuer=subject", the form Result.Identity uses for keyless bundles.
func (i Identity) String() string { return i.Issuer + "=" + i.Subject }

// ParseIdentity parses "ISSUER=SUBJECT", splitting at the first "=" (issuers are URLs without
// "=", subjects may contain it). Both halves must be non-empty.
func ParseIdentity(s string) (Identity, error) {
	issuer, subject, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(issuer) == "" || strings.TrimSpace(subject) == "" {
		return Identity{}, fmt.Errorf("invalid keyless identity %q: want ISSUER=SUBJECT", s)
	}
	return Identity{Issuer: issuer, Subject: subject}, nil
}

// LoadTrustedRoot reads a Sigstore trusted_root.json (Fulcio CAs, Rekor and CT logs, TSAs).
func LoadTrustedRoot(path string) (root.TrustedMaterial, error) {
	tr, err := root.NewTrustedRootFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("reading trusted root %s: %w", path, err)
	}
	return tr, nil
}

// Result describes a verified bundle.
type Result struct {
	// Identity is who signed: "key:<hex sha256 of the PKIX DER public key>" for a key, or
	// "issuer=subject" of the certificate for keyless.
	Identity string
	// Digest is the verified artifact digest, "sha256:<hex>".
	Digest string
	// Keyless is true when the bundle was verified through a certificate and a trusted root.
	Keyless bool
}

// Verify checks that bundle is a Sigstore bundle signing exactly digest and that its signature
// verifies against trust: a public-key bundle against each of trust.Keys, a certificate bundle
// against trust.Root (certificate chain, transparency log entry, timestamps) and one of
// trust.Identities. Errors wrap ErrNoTrust, ErrBundleInvalid, ErrDigestMismatch or ErrUntrusted,
// except for a malformed digest argument. Verify works offline.
func Verify(ctx context.Context, bundleJSON []byte, digest string, trust Trust) (Result, error) {
	keyless := trust.Root != nil && len(trust.Identities) > 0
	if len(trust.Keys) == 0 && !keyless {
		return Result{}, fmt.Errorf("verifying: %w", ErrNoTrust)
	}
	raw, err := parseDigest(digest)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("verifying: %w", err)
	}
	b := &bundle.Bundle{}
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return Result{}, fmt.Errorf("%w: %s", ErrBundleInvalid, strings.TrimPrefix(oneLine(err), "invalid bundle: "))
	}
	msg := b.GetMessageSignature()
	if msg == nil {
		return Result{}, fmt.Errorf("%w: no message signature (DSSE bundles are not artifact signatures)", ErrBundleInvalid)
	}
	// The message digest is an unauthenticated hint; comparing it only gives a clear error.
	// The signature check below is what binds the digest.
	signed := msg.GetMessageDigest()
	if signed.GetAlgorithm() != protocommon.HashAlgorithm_SHA2_256 || !bytes.Equal(signed.GetDigest(), raw) {
		return Result{}, fmt.Errorf("%w: bundle digest %s, want %s", ErrDigestMismatch, describeDigest(signed), digest)
	}

	vm := b.GetVerificationMaterial()
	switch {
	case vm.GetPublicKey() != nil:
		return verifyKey(b, raw, digest, vm.GetPublicKey().GetHint(), trust.Keys)
	case vm.GetCertificate() != nil || vm.GetX509CertificateChain() != nil:
		if !keyless {
			return Result{}, fmt.Errorf("%w: bundle is keyless but no trusted root with identities was given", ErrUntrusted)
		}
		return verifyKeyless(b, raw, digest, trust)
	default:
		return Result{}, fmt.Errorf("%w: no verification material", ErrBundleInvalid)
	}
}

// verifyKey tries each trusted key, the one whose fingerprint equals the bundle's hint first.
func verifyKey(b *bundle.Bundle, raw []byte, digest, hint string, keys []crypto.PublicKey) (Result, error) {
	if len(keys) == 0 {
		return Result{}, fmt.Errorf("%w: bundle is key-signed but no trusted keys were given", ErrUntrusted)
	}
	type candidate struct {
		pub crypto.PublicKey
		fp  string
	}
	cands := make([]candidate, 0, len(keys))
	for _, k := range keys {
		fp, err := fingerprint(k)
		if err != nil {
			return Result{}, fmt.Errorf("trusted key: %w", err)
		}
		if fp == hint {
			cands = append([]candidate{{k, fp}}, cands...)
		} else {
			cands = append(cands, candidate{k, fp})
		}
	}
	policy := verify.NewPolicy(verify.WithArtifactDigest("sha256", raw), verify.WithKey())
	var lastErr error
	for _, c := range cands {
		sv, err := signature.LoadVerifier(c.pub, crypto.SHA256)
		if err != nil {
			lastErr = err
			continue
		}
		key := root.NewExpiringKey(sv, time.Time{}, time.Time{})
		tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
		v, err := verify.NewVerifier(tm, verify.WithNoObserverTimestamps())
		if err != nil {
			return Result{}, fmt.Errorf("verifying: %w", err)
		}
		if _, err := v.Verify(b, policy); err != nil {
			lastErr = err
			continue
		}
		return Result{Identity: keyIDPrefix + c.fp, Digest: digest}, nil
	}
	return Result{}, fmt.Errorf("%w: no trusted key (%d tried) verifies the signature: %s", ErrUntrusted, len(cands), oneLine(lastErr))
}

// verifyKeyless checks the certificate chain against the trusted root's Fulcio CAs, requires one
// transparency log entry from a trusted Rekor and a trusted timestamp (the log's integrated time
// or an RFC 3161 timestamp) within the certificate's validity, and the certificate identity.
func verifyKeyless(b *bundle.Bundle, raw []byte, digest string, trust Trust) (Result, error) {
	var opts []verify.PolicyOption
	for _, id := range trust.Identities {
		ci, err := verify.NewShortCertificateIdentity(id.Issuer, "", id.Subject, "")
		if err != nil {
			return Result{}, fmt.Errorf("keyless identity %s: %w", id, err)
		}
		opts = append(opts, verify.WithCertificateIdentity(ci))
	}
	v, err := verify.NewVerifier(trust.Root, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	if err != nil {
		return Result{}, fmt.Errorf("verifying: %w", err)
	}
	res, err := v.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", raw), opts...))
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s", ErrUntrusted, oneLine(err))
	}
	id := ""
	if res.Signature != nil && res.Signature.Certificate != nil {
		c := res.Signature.Certificate
		id = Identity{Issuer: c.Issuer, Subject: c.SubjectAlternativeName}.String()
	}
	return Result{Identity: id, Digest: digest, Keyless: true}, nil
}

// describeDigest renders a bundle's message digest for an error message.
func describeDigest(h *protocommon.HashOutput) string {
	if h.GetAlgorithm() != protocommon.HashAlgorithm_SHA2_256 {
		return fmt.Sprintf("of algorithm %s", h.GetAlgorithm())
	}
	return fmt.Sprintf("%s%x", digestPrefix, h.GetDigest())
}

// oneLine flattens an error message onto one line.
func oneLine(err error) string {
	if err == nil {
		return "unknown error"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
