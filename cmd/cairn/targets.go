package main

import (
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/signing"
)

// targetOptions are the flags of the commands that reach deployment targets.
type targetOptions struct {
	target     string
	targetRoot string
	stateDir   string
}

func (o *targetOptions) AddFlags(fs *pflag.FlagSet, withState bool) {
	fs.StringVar(&o.target, "target", "", "only the target named `T`")
	fs.StringVar(&o.targetRoot, "target-root", "", "resolve relative local target paths under `DIR` (default .cairn/targets in the repository root)")
	if withState {
		fs.StringVar(&o.stateDir, "state-dir", "", "keep targets.json and audit.jsonl in `DIR` (default .cairn/state in the repository root)")
	}
}

// reconcilerOptions resolves the flags against the inventory's root.
func (o *targetOptions) reconcilerOptions(src *inventory.Source) (reconciler.Options, error) {
	root, err := filepath.Abs(src.Dir)
	if err != nil {
		return reconciler.Options{}, usageError(err)
	}
	abs := func(flag, def string) (string, error) {
		if flag == "" {
			return filepath.Join(root, def), nil
		}
		p, err := filepath.Abs(flag)
		if err != nil {
			return "", usageError(err)
		}
		return p, nil
	}
	opts := reconciler.Options{Target: o.target, Now: nowFunc}
	if opts.TargetRoot, err = abs(o.targetRoot, filepath.Join(".cairn", "targets")); err != nil {
		return opts, err
	}
	if opts.StateDir, err = abs(o.stateDir, filepath.Join(".cairn", "state")); err != nil {
		return opts, err
	}
	return opts, nil
}

// trustOptions are the operator's trust roots for signature verification.
type trustOptions struct {
	trustedKeys       []string
	requireSignatures bool
}

func (o *trustOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.trustedKeys, "trusted-key", nil, "verify signatures against the PEM public key in `FILE` (repeatable)")
	fs.BoolVar(&o.requireSignatures, "require-signatures", false, "refuse versions for signing.required stages without a valid signature")
}

// trust loads the trusted keys; an unreadable key is a usage error.
func (o *trustOptions) trust() (signing.Trust, error) {
	var t signing.Trust
	for _, f := range o.trustedKeys {
		k, err := signing.LoadPublicKey(f)
		if err != nil {
			return t, usageError(fmt.Errorf("--trusted-key: %w", err))
		}
		t.Keys = append(t.Keys, crypto.PublicKey(k))
	}
	return t, nil
}

// writeJSON writes v indented, without HTML escaping.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
