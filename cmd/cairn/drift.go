package main

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
)

type driftOptions struct {
	*globalOptions
	reconcileOptions
	heal bool
	prs  driftPRsOptions // monitors and --open-prs: drift_prs.go
}

var driftFormats = []string{"text", "json"}

func newDriftCmd(g *globalOptions, runF func(context.Context, *driftOptions) error) *cobra.Command {
	opts := &driftOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "drift",
		Short: "Compare the targets with the inventory and report drift",
		Long: `Drift observes every target and reports findings of kind target-drift (the
deployed version differs from git, or a model is missing or extra) and
artifact-corrupt (a deployed file's digest differs). With --heal, targets
whose onDrift is heal are re-applied through the same gate as apply;
report targets are only reported. With --prometheus-url or
--open-prs, the monitors are evaluated too (monitor-breach, monitor-error), and
--open-prs answers findings with pull requests: a rollback or retrain per
breached monitor, a pin per drifted target whose onDrift is pr; pull requests
whose finding no longer holds are closed. Exit 1 when any finding remains
(with --heal, one that was healed does not count).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkFormat(driftFormats...); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDrift(cmd.Context(), opts)
		},
	}
	opts.inventoryOptions.AddFlags(cmd.Flags(), driftFormats...)
	opts.targetOptions.AddFlags(cmd.Flags(), true)
	opts.signatureOptions.AddFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.heal, "heal", false, "re-apply targets whose onDrift is heal")
	opts.prs.AddFlags(cmd.Flags())
	return cmd
}

func runDrift(ctx context.Context, opts *driftOptions) error {
	src, v, ropts, err := opts.prepare(ctx, opts.globalOptions)
	if err != nil {
		return err
	}
	inv := v.Inventory
	if err := v.Allow(); err != nil && opts.heal {
		// Healing deploys: say why the gate refuses it, as apply does.
		opts.printFindings(v.Report)
	}
	rep, err := reconciler.Drift(ctx, v, ropts, opts.heal)
	if err != nil {
		return targetErr(err)
	}
	mr, err := runDriftPRs(ctx, &opts.prs, opts.stderr, src, inv, rep, inventory.Options{Isolate: evalIsolation(opts.globalOptions), Cache: evalCache(opts.globalOptions)})
	if err != nil {
		return err
	}
	if opts.format == "json" {
		if err := writeJSON(opts.stdout, driftJSON(rep, mr)); err != nil {
			return err
		}
	} else {
		for _, f := range rep.Findings {
			fmt.Fprintln(opts.stdout, f)
		}
		for _, name := range slices.Sorted(maps.Keys(rep.Skipped)) {
			fmt.Fprintf(opts.stderr, "cairn: target %s skipped: %s\n", name, rep.Skipped[name])
		}
		printDriftPRs(opts.stdout, opts.stderr, mr)
		if len(rep.Findings) == 0 && !mr.findings() {
			fmt.Fprintf(opts.stdout, "no drift at %s\n", src.ShortRevision())
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rep.Errors)) {
		fmt.Fprintf(opts.stderr, "cairn: target %s: %s\n", name, rep.Errors[name])
	}
	if rep.Unhealed() > 0 || len(rep.Errors) > 0 || mr.findings() {
		return findingsExit
	}
	return nil
}
