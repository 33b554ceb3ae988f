package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
)

type historyOptions struct {
	*globalOptions
	inventoryOptions
	model string
}

var historyFormats = []string{"text", "json"}

func newHistoryCmd(g *globalOptions, runF func(context.Context, *historyOptions) error) *cobra.Command {
	opts := &historyOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "history MODEL",
		Short: "Show a model's lifecycle from the git history",
		Long: `History reads the git history (HEAD, or --rev) and lists, oldest first, every
commit that changed the model's stage pins or retirement: commit, author,
date, subject and each stage's from→to version.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkFormat(historyFormats...); err != nil {
				return err
			}
			opts.model = args[0]
			if !inventory.NamePattern.MatchString(opts.model) {
				return usageError(fmt.Errorf("%q is not a model name", opts.model))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runHistory(cmd.Context(), opts)
		},
	}
	opts.inventoryOptions.AddFlags(cmd.Flags(), historyFormats...)
	return cmd
}

func runHistory(ctx context.Context, opts *historyOptions) error {
	src, err := opts.open(ctx)
	if err != nil {
		return err
	}
	entries, err := reconciler.History(ctx, src, opts.model, inventory.Options{Isolate: evalIsolation(opts.globalOptions), Cache: evalCache(opts.globalOptions)})
	if err != nil {
		if errors.Is(err, reconciler.ErrNoHistory) {
			return usageError(fmt.Errorf("history: %w: %s is not in a git repository", err, src.Dir))
		}
		return usageError(err)
	}
	if len(entries) == 0 {
		if _, err := fs.Stat(src.FS, path.Join(inventory.ModelsDir, opts.model)); err != nil {
			return usageError(fmt.Errorf("no model %q in %s and none in its history", opts.model, inventory.ModelsDir))
		}
	}
	if opts.format == "json" {
		if entries == nil {
			entries = []reconciler.HistoryEntry{}
		}
		return writeJSON(opts.stdout, map[string]any{"model": opts.model, "history": entries})
	}
	if len(entries) == 0 {
		fmt.Fprintf(opts.stdout, "%s: no stage changes in the history\n", opts.model)
		return nil
	}
	for _, e := range entries {
		var changes []string
		for _, c := range e.Changes {
			changes = append(changes, c.String())
		}
		if e.Retired != nil {
			if *e.Retired {
				changes = append(changes, "retired")
			} else {
				changes = append(changes, "unretired")
			}
		}
		pr := ""
		if e.PR != 0 {
			pr = fmt.Sprintf(" [#%d]", e.PR)
		}
		fmt.Fprintf(opts.stdout, "%s %s %s <%s> %s%s\n    %s\n", e.Commit[:12], e.Date.UTC().Format(time.RFC3339),
			e.Author, e.Email, e.Subject, pr, strings.Join(changes, ", "))
	}
	return nil
}
