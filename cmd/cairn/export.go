package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/format"
	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/schema"
)

type exportOptions struct {
	*globalOptions
	inventoryOptions
	model string
	// dir and stateDir are for --format html: where the site is written
	// and the reconciler state it shows, if any.
	dir, stateDir string
}

var exportFormats = []string{"json", "cue", "html"}

func newExportCmd(g *globalOptions, runF func(context.Context, *exportOptions) error) *cobra.Command {
	opts := &exportOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "export [MODEL] | export --format html DIR",
		Short: "Print the evaluated model, or every model, with defaults applied; or write the inventory's pages as a static site",
		Long: `Export prints the evaluated model, or every model, as JSON or CUE with
defaults applied.

With --format html it writes into DIR the pages the daemon serves, as a
static site with relative links (for auditors, or GitHub Pages): index.html
(and index-N.html, 100 models a page), and models/NAME.html for each model
with its card, versions, pins, monitors, history (from git, when the
inventory is in a repository) and signatures (whether a bundle exists; the
export verifies nothing). A static site has no live state: targets are not
observed and monitors not evaluated. With --state-dir it shows the targets'
recorded revisions and the recent audit entries of that state directory.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkFormat(exportFormats...); err != nil {
				return err
			}
			if opts.format == "html" {
				if len(args) != 1 {
					return usageError(errors.New("export --format html needs the directory to write"))
				}
				opts.dir = args[0]
				if runF != nil {
					return runF(cmd.Context(), opts)
				}
				return runExportHTML(cmd.Context(), opts)
			}
			if opts.stateDir != "" {
				return usageError(errors.New("--state-dir is for --format html"))
			}
			if len(args) == 1 {
				opts.model = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runExport(cmd.Context(), opts)
		},
	}
	opts.inventoryOptions.AddFlags(cmd.Flags(), exportFormats...)
	cmd.Flags().StringVar(&opts.stateDir, "state-dir", "", "with --format html, show the target states and audit of `DIR`")
	return cmd
}

func runExport(ctx context.Context, opts *exportOptions) error {
	src, err := opts.open(ctx)
	if err != nil {
		return err
	}
	lo := inventory.Options{}
	if opts.model != "" {
		if !inventory.NamePattern.MatchString(opts.model) {
			return usageError(fmt.Errorf("%q is not a valid model name", opts.model))
		}
		lo.Only = []string{opts.model}
	}
	inv, err := opts.load(ctx, src, lo)
	if err != nil {
		return err
	}
	if opts.model != "" && inv.Model(opts.model) == nil {
		return usageError(fmt.Errorf("no model %q in %s", opts.model, inventory.ModelsDir))
	}
	failed := false
	for _, p := range inv.Problems {
		if p.Model != "" {
			fmt.Fprintln(opts.stderr, p)
			failed = true
		}
	}
	if failed {
		return findingsExit
	}
	var out any
	if opts.model != "" {
		out = inv.Model(opts.model).Model
	} else {
		all := make(map[string]schema.Model, len(inv.Models))
		for _, m := range inv.Models {
			all[m.Name] = m.Model
		}
		out = all
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if opts.format == "cue" {
		v := cuecontext.New().CompileBytes(b)
		if b, err = format.Node(v.Syntax()); err != nil {
			return err
		}
	}
	fmt.Fprintln(opts.stdout, string(b))
	return nil
}
