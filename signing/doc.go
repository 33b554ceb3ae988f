// Package signing computes streaming artifact digests, signs them into Sigstore bundles and
// verifies bundles against trust roots that the operator provides (public keys, or a Sigstore
// trusted root with accepted certificate identities).
//
// Bundles are Sigstore bundle v0.3 JSON documents whose content is a message signature over the
// artifact's sha256 digest, so a bundle written by Sign verifies like one written by
// "cosign sign-blob --new-bundle-format" over the artifact itself.
package signing
