// Package gate gives the one verdict on a revision of the inventory: it
// loads the inventory, loads the organisation rules (the base's when a base
// governs the change), runs the built-in and organisation rules, and
// verifies the signatures of pinned versions against the operator's trust
// roots. validate, verify, plan, apply, drift, ci and the daemon all ask
// Check, and reconciler.Apply deploys only a Verdict that allows it, so
// what validates is what can deploy and what does not validate deploys
// nothing.
package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/cairnops/cairn/artifact"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
	"github.com/cairnops/cairn/signing"
)

// Options are the inputs of Check beyond the revision's source.
type Options struct {
	// Base is the source of the base revision for the diff-aware rules;
	// nil checks the revision alone. When the base has an inventory, its
	// organisation rules and rule severities judge the revision
	// (policy.Governed).
	Base *inventory.Source
	// Now is the time review-due compares with; zero means time.Now().
	Now time.Time
	// Trust are the operator's trust roots (LoadTrust). Without any, the
	// bundles of versions in signing.required stages are checked to exist
	// but cannot be verified, and a Deploy verdict is refused.
	Trust signing.Trust
	// Deploy asks for the verdict of a deployment: a revision that pins a
	// version in a signing.required stage is refused unless trust roots are
	// given.
	Deploy bool
	// Model and Version limit the signature verdicts to one model, and
	// version of it; empty means all. Model also limits evaluation to that
	// model.
	Model, Version string
	// Bundles also checks versions that carry a bundle although no
	// signing.required stage pins them (as cairn verify does).
	Bundles bool
	// Artifacts also streams every checked version's artifact and compares
	// it with the pinned digest.
	Artifacts bool
	// Progress, when set, wraps each artifact stream of Artifacts, given a
	// label (model@version) and its size (-1 when unknown).
	Progress func(label string, r io.Reader, size int64) io.Reader
	// HTTPClient fetches https:// artifacts and reaches oci:// registries;
	// nil means http.DefaultClient.
	HTTPClient *http.Client
	// Registry holds the credentials for oci:// registries (the operator's
	// docker config, never the repository's); nil means anonymous.
	Registry credentials.Store
	// Load tunes the evaluation (workers, isolation, cache); Visit,
	// Visitor and Only are set by Check. With Load.Isolate the policy files
	// are compiled, and the rules run, in its worker processes too; with
	// Load.Cache what the rules give for each model is cached with it.
	Load inventory.Options
}

// Verdict is the judgement of one revision.
type Verdict struct {
	// Inventory is the evaluated revision.
	Inventory *inventory.Inventory
	// Base is the evaluated base revision, nil without Options.Base.
	Base *inventory.Inventory
	// Report holds every finding, sorted by place, with its severity.
	Report *policy.Report
	// Rules are the built-in rules and the organisation rules that judged
	// the revision.
	Rules []policy.Rule
	// Signatures are the per-version signature verdicts, by model and
	// version.
	Signatures []Signature
	// Deploy is true when the verdict was asked for a deployment.
	Deploy bool
}

// ErrRefused is wrapped by Verdict.Allow's error when the revision must not
// deploy. It is a stalled condition: retrying the same revision cannot
// succeed.
var ErrRefused = errors.New("revision refused")

// Allow returns nil when the verdict allows deploying its revision: it was
// asked for a deployment and holds no error finding. Otherwise it returns
// an error wrapping ErrRefused that says why in one line.
func (v *Verdict) Allow() error {
	if v == nil || v.Report == nil {
		return fmt.Errorf("%w: no verdict", ErrRefused)
	}
	if !v.Deploy {
		return fmt.Errorf("%w: the verdict was not asked for a deployment", ErrRefused)
	}
	if n := v.Report.Summary.Errors; n > 0 {
		word := "errors"
		if n == 1 {
			word = "error"
		}
		return fmt.Errorf("%w: the inventory has %d validation %s", ErrRefused, n, word)
	}
	return nil
}

// Errors returns the findings of severity error.
func (v *Verdict) Errors() []policy.Finding {
	var out []policy.Finding
	for _, f := range v.Report.Findings {
		if f.Severity == policy.Error {
			out = append(out, f)
		}
	}
	return out
}

// Signer returns the verified signer of model@version, or "".
func (v *Verdict) Signer(model, version string) string {
	for _, s := range v.Signatures {
		if s.Model == model && s.Version == version && s.Status == SignatureOK {
			return s.Identity
		}
	}
	return ""
}

// Check judges the revision of src. Problems with the revision's content
// are findings in the Verdict; the error is for a revision that cannot be
// read at all (inventory.ErrNoInventory, I/O, a cancelled ctx) or a base
// that cannot be read.
func Check(ctx context.Context, src *inventory.Source, opts Options) (*Verdict, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	v := &Verdict{Deploy: opts.Deploy}
	if opts.Base != nil {
		bo := opts.Load
		bo.Visit, bo.Visitor, bo.Only = nil, nil, nil
		base, err := inventory.Load(ctx, opts.Base, bo)
		switch {
		case errors.Is(err, inventory.ErrNoInventory):
			base = &inventory.Inventory{Source: opts.Base}
		case err != nil:
			return nil, fmt.Errorf("reading base %s: %w", opts.Base.ShortRevision(), err)
		}
		v.Base = base
		// The base's object storages are not needed while the head loads;
		// a later read of the base opens them again.
		opts.Base.Release()
	}
	iso := opts.Load.Isolate
	if iso != nil && iso.Cache == nil && opts.Load.Cache != nil {
		// The policy files compile in workers once per content too.
		c := *iso
		c.Cache = opts.Load.Cache
		iso = &c
	}
	proposed, err := policy.LoadIsolated(ctx, src, iso)
	if err != nil {
		return nil, err
	}
	enforced := proposed
	if policy.Governed(v.Base) {
		if enforced, err = policy.LoadIsolated(ctx, v.Base.Source, iso); err != nil {
			return nil, fmt.Errorf("reading the base's policies: %w", err)
		}
	}
	lo := opts.Load
	lo.Visit, lo.Visitor = nil, nil
	if lo.Isolate != nil || lo.Cache != nil {
		// A Visitor's results cross into a worker and into the cache.
		lo.Visitor = enforced.Visitor()
	} else {
		lo.Visit = enforced.Visit
	}
	lo.Only = nil
	if opts.Model != "" {
		lo.Only = []string{opts.Model}
	}
	inv, err := inventory.Load(ctx, src, lo)
	if err != nil {
		return nil, err
	}
	v.Inventory = inv
	v.Rules = append(policy.Rules(), enforced.Rules()...)
	v.Signatures = signatures(ctx, inv, opts)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	po := policy.Options{Now: opts.Now, Policies: enforced, Proposed: proposed, Base: v.Base,
		Signatures: v.signatureProblem}
	if v.Report, err = policy.Evaluate(ctx, inv, po); err != nil {
		return nil, err
	}
	if opts.Deploy && !Trusted(opts.Trust) {
		v.Report.Add(untrusted(inv)...)
	}
	return v, nil
}

// signatureProblem is the signature rule's question for Evaluate: why
// model@version has no valid signature, or nil. A version whose bundle
// could not be verified for want of trust roots has none here: Check
// refuses a deployment of it on its own (untrusted).
func (v *Verdict) signatureProblem(model, version string) error {
	for _, s := range v.Signatures {
		if s.Model == model && s.Version == version && s.Status == SignatureInvalid {
			return errors.New(s.Reason)
		}
	}
	return nil
}

// untrusted is the finding of a deployment without trust roots of a
// revision that pins a version in a signing.required stage: one per such
// stage, at its entry of signing.required.
func untrusted(inv *inventory.Inventory) []policy.Finding {
	var out []policy.Finding
	for i, stage := range inv.Settings.Signing.Required {
		pinned := false
		for _, m := range inv.Models {
			if _, ok := m.Stages[stage]; ok && m.Valid && !m.Retired {
				pinned = true
				break
			}
		}
		if !pinned {
			continue
		}
		pos := inv.SettingsPos("signing", "required", fmt.Sprint(i))
		out = append(out, policy.Finding{Rule: policy.SignatureRule, Severity: policy.Error,
			File: pos.File, Line: pos.Line, Column: pos.Column,
			Message: fmt.Sprintf("signing.required: stage %s requires signatures and no trust root was given: pass %s", stage, TrustFlags)})
	}
	return out
}

// opener returns the artifact opener of the checked revision.
func opener(inv *inventory.Inventory, opts Options) *artifact.Opener {
	return artifact.NewOpener(inv.Source, opts.HTTPClient).WithCredentials(opts.Registry)
}
