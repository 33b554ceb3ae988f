package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/cairnops/cairn/inventory"
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

// load reads and evaluates the inventory.
func load(ctx context.Context, src *inventory.Source, opts inventory.Options) (*inventory.Inventory, error) {
	inv, err := inventory.Load(ctx, src, opts)
	if err != nil {
		if errors.Is(err, inventory.ErrNoInventory) {
			return nil, usageError(fmt.Errorf("%s", err))
		}
		return nil, usageError(err)
	}
	return inv, nil
}
