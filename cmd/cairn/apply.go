package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/reconciler"
)

type applyOptions struct {
	*globalOptions
	reconcileOptions
	receiptKeyOptions
	wait time.Duration
}

var applyFormats = []string{"text", "json"}

func newApplyCmd(g *globalOptions, runF func(context.Context, *applyOptions) error) *cobra.Command {
	opts := &applyOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Validate, verify signatures and apply the pinned versions to the targets",
		Long: `Apply asks the same gate as validate and refuses a revision with any error
finding, printing the findings as validate does. Every version bound for a
signing.required stage must carry a bundle that verifies against the
operator's trust roots (--trusted-key, --keyless-identity with
--trusted-root, or --trust-config, all outside the repository); without
trust roots such a revision is refused. Then it applies the desired state to
each target. Nothing is touched when the revision is refused. It prints what it
did to each model (created, updated, deleted; unchanged too with -v) and
the counts per target and over all. Every change is appended to
<state dir>/audit.jsonl. With --receipt-key, every model a target gets has
a signed approval receipt in <state dir>/receipts/ (cairn receipts verify),
naming the pull request that brought the revision and its approvers (from
GitHub: GITHUB_TOKEN, GITHUB_API_URL). kserve targets are reached with
the operator's cluster credentials (--kubeconfig, KUBECONFIG, or the
in-cluster service account); with --wait, apply waits until each
InferenceService it wrote is ready, and a model that fails to load or is
not ready in time fails its target. Exit 1 when the revision is refused or
a target fails.`,
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
	opts.receiptKeyOptions.AddFlags(cmd.Flags())
	cmd.Flags().DurationVar(&opts.wait, "wait", 0, "wait up to `DURATION` for each model written to a kserve target to be ready (0: do not wait)")
	return cmd
}

func runApply(ctx context.Context, opts *applyOptions) error {
	src, v, ropts, err := opts.prepare(ctx, opts.globalOptions)
	if err != nil {
		return err
	}
	is, err := receiptIssuer(ctx, opts.globalOptions, opts.receiptKey, src, ropts.StateDir, "", envGitHub(v.Inventory))
	if err != nil {
		return err
	}
	setReceipts(&ropts, is)
	ropts.Wait = opts.wait
	ropts.Deployments = deployments(ctx, v.Inventory, envGitHub(v.Inventory), "", opts.stderr)
	res, err := reconciler.Apply(ctx, v, ropts)
	if res == nil {
		return targetErr(err)
	}
	printDeploymentErrors(opts.stderr, res.Targets)
	printReceiptErrors(opts.stderr, res.Targets)
	if opts.format == "json" {
		if jerr := writeJSON(opts.stdout, res); jerr != nil {
			return jerr
		}
	} else {
		for _, f := range res.Findings {
			fmt.Fprintln(opts.stderr, f)
		}
		fmt.Fprint(opts.stdout, res.Text(opts.verbose))
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
