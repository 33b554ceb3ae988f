package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
)

type rulesOptions struct {
	*globalOptions
	inventoryOptions
}

var rulesFormats = []string{"text", "json"}

func newRulesCmd(g *globalOptions, runF func(context.Context, *rulesOptions) error) *cobra.Command {
	opts := &rulesOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List the governance rules with their id, default severity and description",
		Long: `Rules lists Cairn's built-in governance rules and, inside an inventory, the
organisation's rules of policies/*.cue, each with its id, default severity and
description. 'rules: <id>: severity' in inventory.cue changes a severity.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkFormat(rulesFormats...); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRules(cmd.Context(), opts)
		},
	}
	opts.inventoryOptions.AddFlags(cmd.Flags(), rulesFormats...)
	return cmd
}

func runRules(ctx context.Context, opts *rulesOptions) error {
	rules := policy.Rules()
	// Outside an inventory only the built-in rules are listed.
	if src, err := inventory.Open(ctx, ".", opts.rev); err == nil {
		if _, err := src.ReadFile(inventory.SettingsFile); err == nil {
			pols, err := policy.LoadIsolated(ctx, src, evalIsolation(opts.globalOptions))
			if err != nil {
				return usageError(err)
			}
			rules = append(rules, pols.Rules()...)
		}
	} else if opts.rev != "" {
		return usageError(err)
	}
	if opts.format == "json" {
		enc := json.NewEncoder(opts.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(rules)
	}
	w := tabwriter.NewWriter(opts.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSEVERITY\tDESCRIPTION")
	for _, r := range rules {
		desc := r.Description
		if r.Source != "" {
			desc += " (" + r.Source + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", r.ID, r.Severity, desc)
	}
	return w.Flush()
}
