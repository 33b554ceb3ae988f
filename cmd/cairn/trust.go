package main

import (
	"github.com/spf13/pflag"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/signing"
)

// trustRootOptions are the flags that name the operator's trust roots for
// signature verification; gate.LoadTrust reads them.
type trustRootOptions struct {
	trustedKeys []string
	identities  []string
	trustedRoot string
	trustConfig string
}

func (o *trustRootOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.trustedKeys, "trusted-key", nil, "trust signatures made by the PEM public key in `FILE`, outside the repository (repeatable)")
	fs.StringArrayVar(&o.identities, "keyless-identity", nil, "trust keyless signatures of certificate identity `ISSUER=SUBJECT` (repeatable; needs --trusted-root)")
	fs.StringVar(&o.trustedRoot, "trusted-root", "", "Sigstore trusted_root.json `FILE` for keyless signatures, outside the repository")
	fs.StringVar(&o.trustConfig, "trust-config", "", "read trust roots from the operator config `FILE` (JSON, outside the repository)")
}

func (o *trustRootOptions) files() gate.TrustFiles {
	return gate.TrustFiles{Keys: o.trustedKeys, Identities: o.identities, Root: o.trustedRoot, Config: o.trustConfig}
}

// trust reads the trust roots the flags name; src is the inventory under
// review, inside whose repository no trust root may live. Every problem is
// a usage error.
func (o *trustRootOptions) trust(src *inventory.Source) (signing.Trust, error) {
	t, err := gate.LoadTrust(src, o.files())
	if err != nil {
		return t, usageError(err)
	}
	return t, nil
}
