package signing_test

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairnops/cairn/signing"
)

func ExampleDigest() {
	d, n, err := signing.Digest(context.Background(), strings.NewReader("model weights"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d, n)
	// Output: sha256:a2d42c4aa884e21216cbb8da4c7ba2fcf9b6033b2331666e666145c24caf7a38 13
}

func ExampleVerify() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "cairn-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	// cairn keygen: an encrypted private key and its public key.
	password := []byte("correct horse battery staple")
	priv, pub, err := signing.GenerateKey(password)
	if err != nil {
		fmt.Println(err)
		return
	}
	keyPath, pubPath := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(keyPath, priv, 0o600); err != nil {
		fmt.Println(err)
		return
	}
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		fmt.Println(err)
		return
	}

	// cairn sign: digest the artifact and sign the digest.
	digest, _, err := signing.Digest(ctx, strings.NewReader("model weights"))
	if err != nil {
		fmt.Println(err)
		return
	}
	signer, err := signing.LoadSigner(ctx, keyPath, func() ([]byte, error) { return password, nil })
	if err != nil {
		fmt.Println(err)
		return
	}
	bundle, err := signing.Sign(ctx, signer, digest)
	if err != nil {
		fmt.Println(err)
		return
	}

	// cairn verify: against the operator's trusted key.
	trusted, err := signing.LoadPublicKey(pubPath)
	if err != nil {
		fmt.Println(err)
		return
	}
	trust := signing.Trust{Keys: []crypto.PublicKey{trusted}}
	res, err := signing.Verify(ctx, bundle, digest, trust)
	if err != nil {
		fmt.Println(err)
		return
	}
	id, _ := signing.KeyID(trusted)
	fmt.Println("verified:", res.Identity == id)

	other, _, _ := signing.Digest(ctx, strings.NewReader("other weights"))
	_, err = signing.Verify(ctx, bundle, other, trust)
	fmt.Println("other digest:", errors.Is(err, signing.ErrDigestMismatch))
	// Output:
	// verified: true
	// other digest: true
}
