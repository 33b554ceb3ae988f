package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/reconciler"
)

type applyOptions struct {
	*globalOptions
	reconcileOptions
}

var applyFormats = []string{"text", "json"}

func newApplyCmd(g *globalOptions, runF func(context.Context, *applyOptions) error) *cobra.Command {
	opts := &applyOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Validate, verify signatures and apply the pinned versions to the targets",
		Long: `Apply validates the inventory and refuses a revision with errors, verifies
the signatures of versions bound for signing.required stages (with
--trusted-key; --require-signatures refuses unsigned ones), then applies the
desired state to each target. Nothing is touched when the revision is
refused. Every change is appended to <state dir>/audit.jsonl. Exit 1 when the
revision is refused or a target fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkFormat(applyFormats...); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runApply(cmd.Context(), opts)
		},
	}
	opts.inventoryOptions.AddFlags(cmd.Flags(), applyFormats...)
	opts.targetOptions.AddFlags(cmd.Flags(), true)
	opts.signatureOptions.AddFlags(cmd.Flags())
	return cmd
}

func runApply(ctx context.Context, opts *applyOptions) error {
	_, inv, ropts, err := opts.prepare(ctx)
	if err != nil {
		return err
	}
	res, err := reconciler.Apply(ctx, inv, ropts)
	if res == nil {
		return targetErr(err)
	}
	if opts.format == "json" {
		if jerr := writeJSON(opts.stdout, res); jerr != nil {
			return jerr
		}
	} else {
		for _, f := range res.Findings {
			fmt.Fprintln(opts.stderr, f)
		}
		for _, c := range res.Signatures {
			if c.Note != "" {
				fmt.Fprintf(opts.stderr, "cairn: warning: %s@%s %s\n", c.Model, c.Version, c.Note)
			}
		}
		fmt.Fprint(opts.stdout, res.String())
	}
	return applyExit(err)
}

// applyExit maps an Apply error: refused or failed targets exit 1, anything else 2.
func applyExit(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, reconciler.ErrRefused), errors.Is(err, reconciler.ErrTargetFailed):
		return &exitError{code: exitFindings, err: err}
	default:
		return usageError(err)
	}
}
