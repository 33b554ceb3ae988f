package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/gate"
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

// verifyReport is the JSON output of verify.
type verifyReport struct {
	Revision string           `json:"revision"`
	Results  []gate.Signature `json:"results"`
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
	if !gate.Trusted(trust) {
		return usageError(fmt.Errorf("%w: pass %s", signing.ErrNoTrust, gate.TrustFlags))
	}
	v, err := opts.check(ctx, src, gate.Options{Trust: trust, Model: name, Version: version,
		Bundles: true, Artifacts: true, Progress: opts.progress})
	if err != nil {
		return err
	}
	if name != "" {
		m, err := lookupModel(v.Inventory, name)
		if err != nil {
			return err
		}
		if _, ok := m.Versions[version]; version != "" && !ok {
			return usageError(fmt.Errorf("%s has no version %s (have: %s)", name, version, strings.Join(sortedVersions(m), ", ")))
		}
	}
	rep := verifyReport{Revision: src.Revision, Results: v.Signatures}
	if rep.Results == nil {
		rep.Results = []gate.Signature{}
	}
	for _, c := range rep.Results {
		if c.Status == gate.SignatureOK {
			rep.Summary.OK++
		} else {
			rep.Summary.Invalid++
		}
		if opts.format == "text" {
			fmt.Fprintln(opts.stdout, c)
		}
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
