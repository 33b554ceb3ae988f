package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cairnops/cairn/internal/atomicfile"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/page"
	"github.com/cairnops/cairn/reconciler"
)

// staticPerPage is the number of models on each static index page.
const staticPerPage = 100

// staticAudit is how many audit entries the static index shows, newest first.
const staticAudit = 20

// runExportHTML writes the inventory's pages into opts.dir with the
// renderer the daemon serves them with (package page).
func runExportHTML(ctx context.Context, opts *exportOptions) error {
	src, err := opts.open(ctx)
	if err != nil {
		return err
	}
	lo := inventory.Options{}
	inv, err := opts.load(ctx, src, lo)
	if err != nil {
		return err
	}
	live := page.Live{Static: true, Generated: nowFunc(), Revision: src.Revision}
	if opts.stateDir != "" {
		states, err := reconciler.States(opts.stateDir)
		if err != nil {
			return fmt.Errorf("--state-dir: %w", err)
		}
		audit, err := reconciler.Audit(opts.stateDir)
		if err != nil {
			return fmt.Errorf("--state-dir: %w", err)
		}
		live.Targets = page.Targets(inv.Settings, states, audit)
		if len(audit) > staticAudit {
			audit = audit[len(audit)-staticAudit:]
		}
		live.Audit = slices.Clone(audit)
		slices.Reverse(live.Audit)
	}
	built := page.Build(inv, page.Evidence{})
	if err := os.MkdirAll(filepath.Join(opts.dir, "models"), 0o755); err != nil {
		return err
	}
	write := func(name string, render func(*bytes.Buffer) error) error {
		var buf bytes.Buffer
		if err := render(&buf); err != nil {
			return err
		}
		return atomicfile.Write(filepath.Join(opts.dir, name), buf.Bytes(), 0o644)
	}
	first := built.Find(page.Query{Page: 1, PerPage: staticPerPage})
	for n := 1; n <= first.Pages; n++ {
		r := built.Find(page.Query{Page: n, PerPage: staticPerPage})
		if err := write(page.IndexFile(n), func(b *bytes.Buffer) error { return built.RenderIndex(b, r, live) }); err != nil {
			return err
		}
	}
	for _, m := range built.Models {
		entries, herr := reconciler.History(ctx, src, m.Name, lo)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h := page.History{Entries: entries, Err: herr}
		if err := write(filepath.Join("models", m.Name+".html"), func(b *bytes.Buffer) error { return built.RenderModel(b, m.Name, h, live) }); err != nil {
			return err
		}
	}
	fmt.Fprintf(opts.stdout, "wrote %s and %s to %s\n", plural(first.Pages, "index page"), plural(len(built.Models), "model page"), opts.dir)
	return nil
}
