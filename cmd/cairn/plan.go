package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/reconciler"
)

type planOptions struct {
	*globalOptions
	inventoryOptions
	targetOptions
}

var planFormats = []string{"text", "json"}

func newPlanCmd(g *globalOptions, runF func(context.Context, *planOptions) error) *cobra.Command {
	opts := &planOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change on each target",
		Long: `Plan computes the desired state of every deployment target (for each valid,
non-retired model, the version pinned for the target's stage), observes the
target and prints what apply would do to each model: create, update or
delete, with the versions from→to (unchanged models too with -v), a line
of counts per target and one over all targets:

  Plan: 3 to create, 1 to update, 0 to delete, 2 unchanged

The JSON (--format json) lists every change with its action as apply
would record it: created, updated, unchanged, deleted or skipped. It changes nothing. It asks the same
gate as validate and apply: a revision with errors prints its findings and
exits 1, since apply would refuse it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkFormat(planFormats...); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPlan(cmd.Context(), opts)
		},
	}
	opts.inventoryOptions.AddFlags(cmd.Flags(), planFormats...)
	opts.targetOptions.AddFlags(cmd.Flags(), false)
	return cmd
}

func runPlan(ctx context.Context, opts *planOptions) error {
	src, err := opts.open(ctx)
	if err != nil {
		return err
	}
	v, err := opts.check(ctx, src, gate.Options{})
	if err != nil {
		return err
	}
	ropts, err := opts.reconcilerOptions(src)
	if err != nil {
		return err
	}
	p, err := reconciler.MakePlan(ctx, v.Inventory, ropts)
	if err != nil {
		return targetErr(err)
	}
	refused := v.Report.Summary.Errors > 0
	if refused {
		opts.printFindings(v.Report)
	}
	if opts.format == "json" {
		if err := writeJSON(opts.stdout, p); err != nil {
			return err
		}
	} else {
		fmt.Fprint(opts.stdout, p.Text(opts.verbose))
	}
	for _, tp := range p.Targets {
		if tp.Error != "" {
			fmt.Fprintf(opts.stderr, "cairn: target %s: %s\n", tp.Target, tp.Error)
		}
	}
	if p.Failed() {
		// A target that cannot be observed is an input that cannot be read.
		return &exitError{code: exitUsage}
	}
	if refused {
		fmt.Fprintf(opts.stderr, "cairn: the inventory has %s: apply would refuse this revision\n", plural(v.Report.Summary.Errors, "validation error"))
		return findingsExit
	}
	return nil
}

// targetErr maps reconciler errors that are the caller's fault to usage errors.
func targetErr(err error) error {
	if errors.Is(err, reconciler.ErrUnknownTarget) {
		return usageError(fmt.Errorf("--target: %w", err))
	}
	return err
}
