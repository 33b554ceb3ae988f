package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/receipt"
	"github.com/cairnops/cairn/reconciler"
)

type historyOptions struct {
	*globalOptions
	inventoryOptions
	receiptTrust
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
date, subject and each stage's from→to version. Under a commit, each approval
receipt of the model applied at it (from the audit log of --state-dir) says
which target got which version, through which pull request, approved by
whom, and whether the receipt verifies against a --trusted-key (exit 1 when
one does not).`,
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
	opts.receiptTrust.AddFlags(cmd.Flags(), true)
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
	receipts, err := opts.receipts(ctx, src)
	if err != nil {
		return err
	}
	failed := false
	for _, rs := range receipts {
		for _, r := range rs {
			failed = failed || r.Error != ""
		}
	}
	exit := func() error {
		if failed {
			return findingsExit
		}
		return nil
	}
	if opts.format == "json" {
		out := make([]historyJSON, 0, len(entries))
		for _, e := range entries {
			out = append(out, historyJSON{HistoryEntry: e, Receipts: receipts[e.Commit]})
		}
		if err := writeJSON(opts.stdout, map[string]any{"model": opts.model, "history": out}); err != nil {
			return err
		}
		return exit()
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
		for _, r := range receipts[e.Commit] {
			fmt.Fprintf(opts.stdout, "    %s\n", r)
		}
	}
	// A receipt that cannot be read names no revision: say so all the same.
	shown := map[string]bool{}
	for _, e := range entries {
		shown[e.Commit] = true
	}
	for _, rev := range slices.Sorted(maps.Keys(receipts)) {
		for _, r := range receipts[rev] {
			if !shown[rev] && r.Error != "" {
				fmt.Fprintf(opts.stdout, "%s (revision %s): %s\n", r.Receipt, inventory.ShortHash(rev), r)
			}
		}
	}
	return exit()
}

// historyJSON is a history entry with its receipts.
type historyJSON struct {
	reconciler.HistoryEntry
	Receipts []historyReceipt `json:"receipts,omitempty"`
}

// historyReceipt is one receipt of the model as history shows it.
type historyReceipt struct {
	Target    string             `json:"target"`
	Version   string             `json:"version"`
	Receipt   string             `json:"receipt"`
	Predicate *receipt.Predicate `json:"predicate,omitempty"`
	// Verified is true when the receipt verified against --trusted-key;
	// Signer is then who signed it.
	Verified bool   `json:"verified"`
	Signer   string `json:"signer,omitempty"`
	// Error is why it does not verify, or cannot be read.
	Error string `json:"error,omitempty"`
}

// String returns "TARGET VERSION: who approved; receipt verified (key:…)".
func (r historyReceipt) String() string {
	who := "?"
	if r.Predicate != nil {
		who = r.Predicate.Summary()
	}
	state := "receipt not verified (no --trusted-key)"
	switch {
	case r.Error != "":
		state = "receipt does not verify: " + r.Error
	case r.Verified:
		state = "receipt verified (" + r.Signer + ")"
	}
	return fmt.Sprintf("%s %s: %s; %s", r.Target, r.Version, who, state)
}

// receipts returns the receipts of the model in the audit log, by the
// revision they name, verified when --trusted-key is given.
func (opts *historyOptions) receipts(ctx context.Context, src *inventory.Source) (map[string][]historyReceipt, error) {
	keys, err := opts.keys(src)
	if err != nil {
		return nil, err
	}
	dir, err := opts.dir(src)
	if err != nil {
		return nil, err
	}
	audit, err := reconciler.Audit(dir)
	if err != nil {
		return nil, usageError(err)
	}
	out := map[string][]historyReceipt{}
	for _, e := range audit {
		if e.Receipt == "" || e.Model != opts.model {
			continue
		}
		hr := historyReceipt{Target: e.Target, Version: e.To, Receipt: e.Receipt}
		if len(keys) > 0 {
			vr, err := receipt.Verify(ctx, dir, e, keys)
			if err != nil {
				hr.Error = strings.TrimPrefix(err.Error(), e.Receipt+": "+receipt.ErrInvalid.Error()+": ")
			} else {
				hr.Predicate, hr.Verified, hr.Signer = vr.Predicate, true, vr.Signer
			}
		}
		if hr.Predicate == nil {
			p, err := receipt.Read(dir, e)
			if err != nil && hr.Error == "" {
				hr.Error = err.Error()
			}
			hr.Predicate = p
		}
		rev := e.Revision
		if hr.Predicate != nil {
			rev = hr.Predicate.Revision
		}
		out[rev] = append(out[rev], hr)
	}
	return out, nil
}
