package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/artifact"
	"github.com/cairnops/cairn/internal/atomicfile"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/signing"
)

type signOptions struct {
	*globalOptions
	inventoryOptions
	key    string
	attach bool
}

var signFormats = []string{"text", "json"}

func newSignCmd(g *globalOptions, runF func(context.Context, *signOptions, string) error) *cobra.Command {
	opts := &signOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "sign MODEL@VERSION --key FILE",
		Short: "Sign a pinned artifact and write its Sigstore bundle",
		Long: `Sign streams the artifact of MODEL@VERSION, checks that its sha256 equals
the digest pinned in the inventory, signs that digest with the key and writes
a Sigstore bundle to models/MODEL/signatures/VERSION.sigstore.json in the
working tree. It prints the bundle's path. An encrypted key is decrypted with
CAIRN_KEY_PASSWORD, else COSIGN_PASSWORD. It refuses (exit 1) when the
artifact does not match the pin.

For an oci:// pin the digest is the manifest's: sign checks the manifest, its
config and every layer, and signs the manifest digest. --attach also pushes
the bundle to the registry as an OCI 1.1 referrer of the manifest (or, where
the registry has no referrers API, under the sha256-<digest> referrers tag)
and prints its reference on a second line. Registry credentials come from
--registry-config or the docker config.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkFormat(signFormats...); err != nil {
				return err
			}
			if opts.key == "" {
				return usageError(errors.New("--key FILE is required"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts, args[0])
			}
			return runSign(cmd.Context(), opts, args[0])
		},
	}
	opts.inventoryOptions.AddFlags(cmd.Flags(), signFormats...)
	cmd.Flags().StringVar(&opts.key, "key", "", "the private key `FILE` (PEM PKCS#8/EC, cosign encrypted) or a KMS URI")
	cmd.Flags().BoolVar(&opts.attach, "attach", false, "also push the bundle to the oci:// artifact's registry as an OCI 1.1 referrer")
	return cmd
}

// signResult is the JSON output of sign.
type signResult struct {
	Model    string `json:"model"`
	Version  string `json:"version"`
	Digest   string `json:"digest"`
	Bundle   string `json:"bundle"`
	Identity string `json:"identity"`
	Attached string `json:"attached,omitempty"`
}

func runSign(ctx context.Context, opts *signOptions, ref string) error {
	name, version, err := parseRef(ref, true)
	if err != nil {
		return err
	}
	src, err := opts.open(ctx)
	if err != nil {
		return err
	}
	inv, err := opts.load(ctx, src, inventory.Options{Only: []string{name}})
	if err != nil {
		return err
	}
	m, err := lookupModel(inv, name)
	if err != nil {
		return err
	}
	v, ok := m.Versions[version]
	if !ok {
		return usageError(fmt.Errorf("%s has no version %s (have: %s)", name, version, strings.Join(sortedVersions(m), ", ")))
	}
	if opts.attach && !strings.HasPrefix(v.Artifact.URI, inventory.OCIPrefix) {
		return usageError(fmt.Errorf("--attach: %s@%s is not an oci:// artifact (%s)", name, version, v.Artifact.URI))
	}
	signer, err := signing.LoadSigner(ctx, opts.key, keyPassword)
	if err != nil {
		return usageError(err)
	}
	creds, err := opts.registry.credentials(src)
	if err != nil {
		return err
	}
	open := artifact.NewOpener(src, nil).WithCredentials(creds)
	label := name + "@" + version
	err = open.Check(ctx, v.Artifact.URI, v.Artifact.Digest, func(r io.Reader, size int64) io.Reader {
		return opts.progress(label, r, size)
	})
	if errors.Is(err, artifact.ErrDigestMismatch) || errors.Is(err, artifact.ErrRegistry) {
		return &exitError{code: exitFindings, err: fmt.Errorf("%s: %w; not signing", label, err)}
	}
	if err != nil {
		return usageError(fmt.Errorf("%s: %w", label, err))
	}
	bundle, err := signing.Sign(ctx, signer, v.Artifact.Digest)
	if err != nil {
		return err
	}
	rel := inventory.BundlePath(name, version)
	if err := writeFileAtomic(filepath.Join(src.Dir, filepath.FromSlash(rel)), bundle); err != nil {
		return usageError(err)
	}
	var attached string
	if opts.attach {
		if attached, err = open.Attach(ctx, v.Artifact.URI, bundle); err != nil {
			return &exitError{code: exitFindings, err: fmt.Errorf("%s: attaching the bundle: %w (the bundle in git is written)", label, err)}
		}
	}
	if opts.format == "json" {
		pub, err := signer.PublicKey()
		if err != nil {
			return err
		}
		id, err := signing.KeyID(pub)
		if err != nil {
			return err
		}
		return writeJSON(opts.stdout, signResult{Model: name, Version: version, Digest: v.Artifact.Digest, Bundle: rel, Identity: id, Attached: attached})
	}
	fmt.Fprintln(opts.stdout, rel)
	if attached != "" {
		fmt.Fprintln(opts.stdout, attached)
	}
	return nil
}

// keyPassword returns the password of an encrypted key: $CAIRN_KEY_PASSWORD,
// else $COSIGN_PASSWORD.
func keyPassword() ([]byte, error) {
	pw, ok := lookupPassword()
	if !ok {
		return nil, fmt.Errorf("the key is encrypted: set %s (or %s)", passwordEnv, cosignPasswordEnv)
	}
	return pw, nil
}

// parseRef splits MODEL[@VERSION]; needVersion makes the version mandatory.
func parseRef(ref string, needVersion bool) (name, version string, err error) {
	name, version, hasVersion := strings.Cut(ref, "@")
	if !inventory.NamePattern.MatchString(name) {
		return "", "", usageError(fmt.Errorf("%q: model name must match %s", name, inventory.NamePattern))
	}
	if hasVersion && (version == "" || strings.ContainsAny(version, `/\`) || version == "." || version == "..") {
		return "", "", usageError(fmt.Errorf("%q: invalid version", ref))
	}
	if needVersion && !hasVersion {
		return "", "", usageError(fmt.Errorf("%q: want MODEL@VERSION", ref))
	}
	return name, version, nil
}

// lookupModel returns the valid model name of inv.
func lookupModel(inv *inventory.Inventory, name string) (*inventory.Model, error) {
	m := inv.Model(name)
	if m == nil {
		return nil, usageError(fmt.Errorf("no model %s in %s", name, inventory.ModelsDir))
	}
	if !m.Valid {
		for _, p := range inv.Problems {
			if p.Model == name {
				return nil, usageError(fmt.Errorf("model %s does not evaluate: %s", name, p))
			}
		}
		return nil, usageError(fmt.Errorf("model %s does not evaluate; run cairn validate", name))
	}
	return m, nil
}

// sortedVersions lists the declared versions of m.
func sortedVersions(m *inventory.Model) []string { return slices.Sorted(maps.Keys(m.Versions)) }

// writeFileAtomic replaces path with data and a final newline, atomically
// and durably, creating the folder.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := atomicfile.Write(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
