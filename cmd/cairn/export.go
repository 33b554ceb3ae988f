package main

import (
	"context"
	"encoding/json"
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
}

var exportFormats = []string{"json", "cue"}

func newExportCmd(g *globalOptions, runF func(context.Context, *exportOptions) error) *cobra.Command {
	opts := &exportOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "export [MODEL]",
		Short: "Print the evaluated model, or every model, with defaults applied",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkFormat(exportFormats...); err != nil {
				return err
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
