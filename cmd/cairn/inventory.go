package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
)

// inventoryOptions are the flags of every command that reads the inventory.
type inventoryOptions struct {
	rev    string
	format string
}

func (o *inventoryOptions) AddFlags(fs *pflag.FlagSet, formats ...string) {
	fs.StringVar(&o.rev, "rev", "", "read the inventory at git revision `REV` instead of the working tree")
	fs.StringVar(&o.format, "format", formats[0], fmt.Sprintf("output format: %v", formats))
}

func (o *inventoryOptions) checkFormat(formats ...string) error {
	for _, f := range formats {
		if o.format == f {
			return nil
		}
	}
	return usageError(fmt.Errorf("--format %q: want one of %v", o.format, formats))
}

// open reads the inventory source at --rev in the current directory.
func (o *inventoryOptions) open(ctx context.Context) (*inventory.Source, error) {
	return openSource(ctx, ".", o.rev)
}

func openSource(ctx context.Context, dir, rev string) (*inventory.Source, error) {
	src, err := inventory.Open(ctx, dir, rev)
	if err != nil {
		return nil, usageError(err)
	}
	return src, nil
}

// load reads and evaluates the inventory, under evalIsolation, for the
// commands that only read it (export, sign); the commands that judge it ask
// the gate (check).
func (g *globalOptions) load(ctx context.Context, src *inventory.Source, opts inventory.Options) (*inventory.Inventory, error) {
	if opts.Isolate == nil {
		opts.Isolate = evalIsolation(g)
	}
	if opts.Cache == nil {
		opts.Cache = evalCache(g)
	}
	inv, err := inventory.Load(ctx, src, opts)
	if err != nil {
		return nil, usageError(err)
	}
	return inv, nil
}

// check asks the gate for its verdict on src; a revision that cannot be
// read is a usage error.
func (g *globalOptions) check(ctx context.Context, src *inventory.Source, opts gate.Options) (*gate.Verdict, error) {
	if opts.Now.IsZero() {
		opts.Now = nowFunc()
	}
	if opts.Load.Isolate == nil {
		opts.Load.Isolate = evalIsolation(g)
	}
	if opts.Load.Cache == nil {
		opts.Load.Cache = evalCache(g)
	}
	if opts.Base != nil {
		keepHeapLow() // two inventories are held at once
	}
	if opts.Load.Progress == nil {
		opts.Load.Progress = g.modelProgress()
	}
	if opts.Progress == nil {
		opts.Progress = g.progress
	}
	if opts.Registry == nil {
		creds, err := g.registry.credentials(src)
		if err != nil {
			return nil, err
		}
		opts.Registry = creds
	}
	v, err := gate.Check(ctx, src, opts)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, usageError(err)
	}
	return v, nil
}

// printFindings writes the verdict's findings to stderr, one a line.
func (g *globalOptions) printFindings(rep *policy.Report) {
	for _, f := range rep.Findings {
		fmt.Fprintln(g.stderr, f)
	}
}
