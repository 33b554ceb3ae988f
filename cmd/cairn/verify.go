package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/signing"
)

type verifyOptions struct {
	*globalOptions
	inventoryOptions
	trustRootOptions
}

var verifyFormats = []string{"text", "json"}

func newVerifyCmd(g *globalOptions, runF func(context.Context, *verifyOptions, []string) error) *cobra.Command {
	opts := &verifyOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "verify [MODEL[@VERSION]] --trusted-key FILE",
		Short: "Verify signature bundles and artifact digests",
		Long: `Verify checks every pinned version that has a Sigstore bundle, and every
version in a signing.required stage (where a missing bundle is invalid): the
bundle must sign the pinned digest with a trusted key or keyless identity,
and the artifact, streamed again, must have that digest. It prints one line
per version and exits 1 when any is invalid, 2 when no trust root is given.

Trust roots come only from the operator: --trusted-key, --keyless-identity
with --trusted-root, or --trust-config, never from the inventory.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkFormat(verifyFormats...); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts, args)
			}
			return runVerify(cmd.Context(), opts, args)
		},
	}
	opts.inventoryOptions.AddFlags(cmd.Flags(), verifyFormats...)
	opts.trustRootOptions.AddFlags(cmd.Flags())
	return cmd
}

// signatureCheck is the verdict on one version, a line of verify's output.
type signatureCheck struct {
	Model    string `json:"model"`
	Version  string `json:"version,omitempty"`
	Status   string `json:"status"` // "ok" or "invalid"
	Identity string `json:"identity,omitempty"`
	Digest   string `json:"digest,omitempty"`
	Bundle   string `json:"bundle,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// String returns "ok model@version identity" or "invalid model@version: reason".
func (c signatureCheck) String() string {
	ref := c.Model
	if c.Version != "" {
		ref += "@" + c.Version
	}
	if c.Status == "ok" {
		return "ok " + ref + " " + c.Identity
	}
	return "invalid " + ref + ": " + c.Reason
}

// verifyReport is the JSON output of verify.
type verifyReport struct {
	Revision string           `json:"revision"`
	Results  []signatureCheck `json:"results"`
	Summary  struct {
		OK      int `json:"ok"`
		Invalid int `json:"invalid"`
	} `json:"summary"`
}

func runVerify(ctx context.Context, opts *verifyOptions, args []string) error {
	var name, version string
	if len(args) == 1 {
		var err error
		if name, version, err = parseRef(args[0], false); err != nil {
			return err
		}
	}
	src, err := opts.open(ctx)
	if err != nil {
		return err
	}
	trust, err := opts.trust(src)
	if err != nil {
		return err
	}
	if !hasTrust(trust) {
		return usageError(fmt.Errorf("%w: pass --trusted-key FILE, --keyless-identity ISSUER=SUBJECT with --trusted-root FILE, or --trust-config FILE", signing.ErrNoTrust))
	}
	lo := inventory.Options{}
	if name != "" {
		lo.Only = []string{name}
	}
	inv, err := load(ctx, src, lo)
	if err != nil {
		return err
	}
	if name != "" {
		m, err := lookupModel(inv, name)
		if err != nil {
			return err
		}
		if _, ok := m.Versions[version]; version != "" && !ok {
			return usageError(fmt.Errorf("%s has no version %s (have: %s)", name, version, strings.Join(sortedVersions(m), ", ")))
		}
	}
	rep := verifyReport{Revision: src.Revision, Results: []signatureCheck{}}
	for _, c := range verifyInventory(ctx, opts.globalOptions, inv, nil, trust, name, version) {
		rep.Results = append(rep.Results, c)
		if c.Status == "ok" {
			rep.Summary.OK++
		} else {
			rep.Summary.Invalid++
		}
		if opts.format == "text" {
			fmt.Fprintln(opts.stdout, c)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch opts.format {
	case "json":
		if err := writeJSON(opts.stdout, rep); err != nil {
			return err
		}
	default:
		if len(rep.Results) == 0 {
			fmt.Fprintln(opts.stderr, "nothing to verify: no signature bundles and no versions in signing.required stages")
		}
	}
	if rep.Summary.Invalid > 0 {
		return findingsExit
	}
	return nil
}

func hasTrust(t signing.Trust) bool {
	return len(t.Keys) > 0 || (t.Root != nil && len(t.Identities) > 0)
}

// verifyInventory checks the versions of inv that verify looks at: of the
// model name (all when empty), the version (all when empty) that have a
// bundle or are in a signing.required stage.
func verifyInventory(ctx context.Context, g *globalOptions, inv *inventory.Inventory, client *http.Client, trust signing.Trust, name, version string) []signatureCheck {
	var out []signatureCheck
	for _, m := range inv.Models {
		if name != "" && m.Name != name {
			continue
		}
		if !m.Valid {
			out = append(out, signatureCheck{Model: m.Name, Status: "invalid", Reason: "the model does not evaluate; run cairn validate"})
			continue
		}
		required := requiredVersions(inv, m)
		versions := sortedVersions(m)
		for v := range required {
			if _, ok := m.Versions[v]; !ok {
				versions = append(versions, v)
			}
		}
		slices.Sort(versions)
		for _, v := range versions {
			if version != "" && v != version {
				continue
			}
			if ctx.Err() != nil {
				return out
			}
			stages, isRequired := required[v]
			if _, err := fs.Stat(inv.Source.FS, bundlePath(m.Name, v)); err != nil && !isRequired && version == "" {
				continue // unsigned and not required: nothing to check
			}
			c := checkSignature(ctx, g, inv.Source, client, trust, m, v, true)
			if c.Status != "ok" && isRequired {
				c.Reason += fmt.Sprintf(" (stage %s requires a valid signature)", strings.Join(stages, ", "))
			}
			out = append(out, c)
		}
	}
	return out
}

// requiredVersions maps each version m pins in a signing.required stage to
// those stages.
func requiredVersions(inv *inventory.Inventory, m *inventory.Model) map[string][]string {
	out := map[string][]string{}
	for _, stage := range inv.Settings.Signing.Required {
		if v, ok := m.Stages[stage]; ok {
			out[v] = append(out[v], stage)
		}
	}
	return out
}

// checkSignature verifies the bundle of m@version against trust and the
// pinned digest and, when stream is set, that the artifact streamed again has
// that digest. Every failure is a verdict, never an error.
func checkSignature(ctx context.Context, g *globalOptions, src *inventory.Source, client *http.Client, trust signing.Trust, m *inventory.Model, version string, stream bool) signatureCheck {
	c := signatureCheck{Model: m.Name, Version: version, Status: "invalid", Bundle: bundlePath(m.Name, version)}
	v, ok := m.Versions[version]
	if !ok {
		c.Reason = "version is not declared in versions"
		return c
	}
	c.Digest = v.Artifact.Digest
	data, err := src.ReadFile(c.Bundle)
	if errors.Is(err, fs.ErrNotExist) {
		c.Reason = "no signature bundle " + c.Bundle
		return c
	} else if err != nil {
		c.Reason = fmt.Sprintf("reading %s: %v", c.Bundle, err)
		return c
	}
	res, err := signing.Verify(ctx, data, v.Artifact.Digest, trust)
	if err != nil {
		c.Reason = oneLine(err.Error())
		if errors.Is(err, signing.ErrDigestMismatch) {
			c.Reason += " (a bundle of another version or artifact?)"
		}
		return c
	}
	c.Identity = res.Identity
	if stream {
		got, err := digestArtifact(ctx, g, src, client, m.Name+"@"+version, v.Artifact.URI)
		if err != nil {
			c.Reason = oneLine(err.Error())
			return c
		}
		if got != v.Artifact.Digest {
			c.Reason = fmt.Sprintf("artifact %s does not match the pinned digest: want %s, got %s", v.Artifact.URI, v.Artifact.Digest, got)
			return c
		}
	}
	c.Status = "ok"
	c.Reason = ""
	return c
}

// oneLine flattens a message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// policySignatures returns the check of the signature rule for validate, or
// nil when no trust root is given (the rule is then skipped). It verifies a
// version's bundle against the trust roots and the pinned digest; it does
// not stream the artifact again (verify and apply do).
func (o *trustRootOptions) policySignatures(ctx context.Context, g *globalOptions, inv *inventory.Inventory) (func(model, version string) error, error) {
	if !o.given() {
		return nil, nil
	}
	trust, err := o.trust(inv.Source)
	if err != nil {
		return nil, err
	}
	return func(model, version string) error {
		m := inv.Model(model)
		if m == nil {
			return fmt.Errorf("no model %s", model)
		}
		if c := checkSignature(ctx, g, inv.Source, nil, trust, m, version, false); c.Status != "ok" {
			return errors.New(c.Reason)
		}
		return nil
	}, nil
}
