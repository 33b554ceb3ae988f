package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/internal/kubeconfig"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
)

// targetOptions are the flags of the commands that reach deployment targets.
type targetOptions struct {
	target     string
	targetRoot string
	stateDir   string
	kubeconfig string
	// verbose lists unchanged models too.
	verbose bool
}

func (o *targetOptions) AddFlags(fs *pflag.FlagSet, withState bool) {
	fs.StringVar(&o.target, "target", "", "only the target named `T`")
	fs.StringVar(&o.targetRoot, "target-root", "", "resolve relative local target paths under `DIR` (default .cairn/targets in the repository root)")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "also list the models that do not change")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "reach kserve targets with the kubeconfig `FILE` (default $KUBECONFIG, ~/.kube/config, or the in-cluster service account); never a file of the repository")
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
	if opts.Kube, err = kubeCredentials(src, o.kubeconfig); err != nil {
		return opts, err
	}
	if opts.TargetRoot, err = abs(o.targetRoot, filepath.Join(".cairn", "targets")); err != nil {
		return opts, err
	}
	if opts.StateDir, err = abs(o.stateDir, filepath.Join(".cairn", "state")); err != nil {
		return opts, err
	}
	return opts, nil
}

// signatureOptions are the operator's trust roots (trust.go).
// --require-signatures is kept for scripts that pass it: signatures are
// always required for signing.required stages, and switching that off is a
// reviewed change to signing.required in git, never a flag.
type signatureOptions struct {
	trustRootOptions
	requireSignatures bool
}

func (o *signatureOptions) AddFlags(fs *pflag.FlagSet) {
	o.trustRootOptions.AddFlags(fs)
	fs.BoolVar(&o.requireSignatures, "require-signatures", true, "refuse versions for signing.required stages without a valid signature (always on)")
}

// check refuses --require-signatures=false.
func (o *signatureOptions) check() error {
	if !o.requireSignatures {
		return usageError(errors.New("--require-signatures=false: signatures cannot be switched off by a flag; remove the stage from signing.required in inventory.cue, a change that is reviewed"))
	}
	return nil
}

// writeJSON writes v indented, without HTML escaping.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// reconcileOptions are the flags of the commands that change targets
// (apply, drift): which inventory, which targets, which trust.
type reconcileOptions struct {
	inventoryOptions
	targetOptions
	signatureOptions
}

// prepare opens the inventory, asks the gate for its deployment verdict
// with the operator's trust roots, and builds the reconciler's options.
func (o *reconcileOptions) prepare(ctx context.Context, g *globalOptions) (*inventory.Source, *gate.Verdict, reconciler.Options, error) {
	if err := o.signatureOptions.check(); err != nil {
		return nil, nil, reconciler.Options{}, err
	}
	src, err := o.open(ctx)
	if err != nil {
		return nil, nil, reconciler.Options{}, err
	}
	trust, err := o.trust(src)
	if err != nil {
		return nil, nil, reconciler.Options{}, err
	}
	v, err := g.check(ctx, src, gate.Options{Trust: trust, Deploy: true})
	if err != nil {
		return nil, nil, reconciler.Options{}, err
	}
	ropts, err := o.reconcilerOptions(src)
	if err != nil {
		return nil, nil, reconciler.Options{}, err
	}
	ropts.Progress = g.progress
	if ropts.Registry, err = g.registry.credentials(src); err != nil {
		return nil, nil, reconciler.Options{}, err
	}
	return src, v, ropts, nil
}

// kubeCredentials returns how kserve targets load the operator's cluster
// credentials (reconciler.Options.Kube). A kubeconfig inside the repository
// under review is refused, as trust roots are: the pull request under
// review must not choose the cluster it is deployed to.
func kubeCredentials(src *inventory.Source, path string) (func(string) (*rest.Config, error), error) {
	for _, f := range kubeconfig.Files(path) {
		inside, err := gate.Inside(src, f)
		if err != nil {
			return nil, usageError(err)
		}
		if inside {
			return nil, usageError(fmt.Errorf("kubeconfig %s is inside the repository under review: cluster credentials must come from the operator (--kubeconfig, KUBECONFIG)", f))
		}
	}
	return func(context string) (*rest.Config, error) { return kubeconfig.Load(path, context) }, nil
}
