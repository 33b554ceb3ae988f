package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
)

type validateOptions struct {
	*globalOptions
	inventoryOptions
	base string
}

var validateFormats = []string{"text", "json"}

func newValidateCmd(g *globalOptions, runF func(context.Context, *validateOptions) error) *cobra.Command {
	opts := &validateOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the inventory against the schema and the governance rules",
		Long: `Validate evaluates every model and inventory.cue against Cairn's schema and
governance rules and prints each finding at file:line:col. It exits 1 when
any finding is an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkFormat(validateFormats...); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runValidate(cmd.Context(), opts)
		},
	}
	opts.inventoryOptions.AddFlags(cmd.Flags(), validateFormats...)
	cmd.Flags().StringVar(&opts.base, "base", "", "compare with git revision `REV` for the diff-aware rules")
	return cmd
}

func runValidate(ctx context.Context, opts *validateOptions) error {
	src, err := opts.open(ctx)
	if err != nil {
		return err
	}
	inv, err := load(ctx, src, inventory.Options{})
	if err != nil {
		return err
	}
	rep, err := policy.Evaluate(ctx, inv, policy.Options{})
	if err != nil {
		return err
	}
	switch opts.format {
	case "json":
		enc := json.NewEncoder(opts.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rep); err != nil {
			return err
		}
	default:
		for _, f := range rep.Findings {
			fmt.Fprintln(opts.stderr, f)
		}
		fmt.Fprintf(opts.stdout, "checked %s at %s: %s\n", plural(rep.Models, "model"), src.ShortRevision(), summaryText(rep.Summary))
	}
	if rep.Summary.Errors > 0 {
		return findingsExit
	}
	return nil
}

func summaryText(s policy.Summary) string {
	if s.Errors == 0 && s.Warnings == 0 {
		return "no problems"
	}
	return plural(s.Errors, "error") + ", " + plural(s.Warnings, "warning")
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
