package signing

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
)

// keyIDPrefix starts the identity of a key: "key:<hex sha256 of the PKIX DER public key>".
const keyIDPrefix = "key:"

// GenerateKey makes an ECDSA P-256 key pair and returns both halves PEM-encoded. With a
// non-empty password the private key is an "ENCRYPTED SIGSTORE PRIVATE KEY" (scrypt +
// secretbox, the format cosign generate-key-pair writes); otherwise it is a plain PKCS#8
// "PRIVATE KEY". The public key is a PKIX "PUBLIC KEY", usable as a cosign .pub.
func GenerateKey(password []byte) (private, public []byte, err error) {
	var pf cryptoutils.PassFunc // nil: unencrypted PKCS#8
	if len(password) > 0 {
		pf = cryptoutils.StaticPasswordFunc(password)
	}
	private, public, err = cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), pf)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	return private, public, nil
}

// encryptedPEMTypes are the PEM block types whose content needs a password.
var encryptedPEMTypes = map[string]bool{
	string(cryptoutils.EncryptedSigstorePrivateKeyPEMType): true,
	"ENCRYPTED COSIGN PRIVATE KEY":                         true,
	"ENCRYPTED PRIVATE KEY":                                true,
}

// LoadSigner returns the signer named by ref. A ref containing "://" is a KMS URI
// ("awskms://", "hashivault://", ...) resolved through sigstore's kms package; it works only for
// providers registered in the binary (or a sigstore-kms-* plugin on PATH). Anything else is a
// file path of a PEM private key: PKCS#8 "PRIVATE KEY", SEC 1 "EC PRIVATE KEY", PKCS#1
// "RSA PRIVATE KEY", or a cosign/sigstore encrypted key decrypted with password(). password is
// called only for an encrypted key and may be nil otherwise. A wrong password fails with
// ErrKeyPassword.
func LoadSigner(ctx context.Context, ref string, password func() ([]byte, error)) (signature.SignerVerifier, error) {
	if strings.Contains(ref, "://") {
		sv, err := kms.Get(ctx, ref, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("loading kms key %s: %w", ref, err)
		}
		return sv, nil
	}
	data, err := os.ReadFile(ref)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("reading key %s: no PEM block", ref)
	}
	encrypted := encryptedPEMTypes[block.Type] || block.Headers["Proc-Type"] != "" // legacy RFC 1423
	pf := cryptoutils.SkipPassword
	if encrypted {
		if password == nil {
			return nil, fmt.Errorf("reading key %s: key is encrypted and no password was given", ref)
		}
		pf = func(bool) ([]byte, error) {
			pw, err := password()
			if err != nil {
				return nil, err
			}
			if pw == nil {
				pw = []byte{} // an empty password is still a password: cosign allows it
			}
			return pw, nil
		}
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(data, pf)
	if err != nil {
		if encrypted {
			return nil, fmt.Errorf("reading key %s: %w: %w", ref, ErrKeyPassword, err)
		}
		return nil, fmt.Errorf("reading key %s: %w", ref, err)
	}
	sv, err := signature.LoadSignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("loading key %s: %w", ref, err)
	}
	return sv, nil
}

// ErrKeyPassword reports that an encrypted private key could not be decrypted (wrong password)
// or its password could not be read.
var ErrKeyPassword = errors.New("cannot decrypt private key (wrong password?)")

// LoadPublicKey reads a PEM PKIX public key file ("PUBLIC KEY", as cosign .pub files are).
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading public key: %w", err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("reading public key %s: %w", path, err)
	}
	return pub, nil
}

// KeyID returns the identity of a public key, "key:<hex sha256 of its PKIX DER encoding>", as
// Verify reports it in Result.Identity. The hex part is the key hint written into bundles.
func KeyID(pub crypto.PublicKey) (string, error) {
	fp, err := fingerprint(pub)
	if err != nil {
		return "", err
	}
	return keyIDPrefix + fp, nil
}

// fingerprint is the hex sha256 of the PKIX DER encoding of pub.
func fingerprint(pub crypto.PublicKey) (string, error) {
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}
