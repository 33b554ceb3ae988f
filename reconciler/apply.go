package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
	"github.com/cairnops/cairn/signing"
	"github.com/cairnops/cairn/target"
)

// ErrRefused is wrapped by Apply's error when the revision is refused before
// any target is touched: validation errors or signatures that do not verify.
// It is a stalled condition: retrying the same revision cannot succeed.
var ErrRefused = errors.New("revision refused")

// ErrTargetFailed is wrapped by Apply's error when one or more targets could
// not be applied (an artifact that does not match its digest, an
// unreachable URL, I/O). Each such target carries its Error.
var ErrTargetFailed = errors.New("apply failed")

// SignatureCheck is the outcome of checking one version's signature.
type SignatureCheck struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	Bundle  string `json:"bundle"`
	// Signer is the verified identity, empty when not verified.
	Signer string `json:"signer,omitempty"`
	// Problem is why the version is refused; empty when it is not.
	Problem string `json:"problem,omitempty"`
	// Note is a non-fatal remark, e.g. an unsigned version without --require-signatures.
	Note string `json:"note,omitempty"`
}

// Result is what Apply did.
type Result struct {
	Revision string `json:"revision"`
	// Refused is why the revision was refused; empty when it was not.
	Refused string `json:"refused,omitempty"`
	// Findings are the validation errors that refused the revision.
	Findings   []policy.Finding `json:"findings,omitempty"`
	Signatures []SignatureCheck `json:"signatures,omitempty"`
	Targets    []TargetPlan     `json:"targets"`
}

// String returns every target's change set and a line for a refusal.
func (r *Result) String() string {
	p := Plan{Revision: r.Revision, Targets: r.Targets}
	s := p.String()
	if r.Refused != "" {
		s += "refused: " + r.Refused + "\n"
	}
	return s
}

// BundlePath returns where the Sigstore bundle of model@version lives in the repository.
func BundlePath(model, version string) string {
	return path.Join(inventory.ModelsDir, model, "signatures", version+".sigstore.json")
}

// applyRun carries one Apply through its steps.
type applyRun struct {
	inv      *inventory.Inventory
	opts     Options
	bindings []Binding
	res      *Result
	signers  map[string]string // model@version -> verified identity
}

// Apply validates inv, verifies signatures and applies the desired state to
// every target (or the one opts.Target names), in that order, stopping at
// the first step that refuses. A refused revision touches no target and
// returns an error wrapping ErrRefused; targets that fail return an error
// wrapping ErrTargetFailed after the others were applied. Every attempt is
// recorded in <StateDir>/targets.json and every change in
// <StateDir>/audit.jsonl. Other errors are I/O on the state directory or
// ErrUnknownTarget. The Result is returned whenever it is not nil.
func Apply(ctx context.Context, inv *inventory.Inventory, opts Options) (*Result, error) {
	bs, err := Bindings(inv, opts)
	if err != nil {
		return nil, err
	}
	r := &applyRun{inv: inv, opts: opts, bindings: bs, signers: map[string]string{},
		res: &Result{Revision: inv.Source.Revision, Targets: []TargetPlan{}}}
	steps := []func(context.Context) error{r.validate, r.verify, r.apply}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			if errors.Is(err, ErrRefused) {
				if rerr := r.recordRefusal(); rerr != nil {
					return r.res, errors.Join(err, rerr)
				}
			}
			return r.res, err
		}
	}
	return r.res, nil
}

func (r *applyRun) refuse(reason string) error {
	r.res.Refused = reason
	return fmt.Errorf("%w: %s", ErrRefused, reason)
}

// validate refuses a revision with governance errors.
func (r *applyRun) validate(ctx context.Context) error {
	rep, err := policy.Evaluate(ctx, r.inv, policy.Options{Now: r.opts.now()})
	if err != nil {
		return err
	}
	for _, f := range rep.Findings {
		if f.Severity == policy.Error {
			r.res.Findings = append(r.res.Findings, f)
		}
	}
	if n := len(r.res.Findings); n > 0 {
		word := "errors"
		if n == 1 {
			word = "error"
		}
		return r.refuse(fmt.Sprintf("the inventory has %d validation %s", n, word))
	}
	return nil
}

func trusted(t signing.Trust) bool {
	return len(t.Keys) > 0 || (t.Root != nil && len(t.Identities) > 0)
}

// verify checks the bundle of every version bound for a signing.required
// stage on a drivable target.
func (r *applyRun) verify(ctx context.Context) error {
	required := r.inv.Settings.Signing.Required
	haveTrust := trusted(r.opts.Trust)
	if !haveTrust && !r.opts.RequireSignatures {
		return nil
	}
	seen := map[string]bool{}
	var refused []string
	for _, b := range r.bindings {
		if b.Driver == nil || !slices.Contains(required, b.Stage) {
			continue
		}
		for _, m := range Desired(r.inv, b.Stage) {
			key := m.Name + "@" + m.Version
			if seen[key] {
				continue
			}
			seen[key] = true
			c := r.check(ctx, m, haveTrust)
			r.res.Signatures = append(r.res.Signatures, c)
			if c.Problem != "" {
				refused = append(refused, fmt.Sprintf("%s@%s: %s", m.Name, m.Version, c.Problem))
			}
			if c.Signer != "" {
				r.signers[key] = c.Signer
			}
		}
	}
	if len(refused) > 0 {
		return r.refuse("signature check: " + joinSemicolon(refused))
	}
	return nil
}

func joinSemicolon(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}

func (r *applyRun) check(ctx context.Context, m target.Model, haveTrust bool) SignatureCheck {
	c := SignatureCheck{Model: m.Name, Version: m.Version, Bundle: BundlePath(m.Name, m.Version)}
	data, err := r.inv.Source.ReadFile(c.Bundle)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if r.opts.RequireSignatures {
			c.Problem = "no signature bundle " + c.Bundle
		} else {
			c.Note = "unsigned: no bundle " + c.Bundle
		}
		return c
	case err != nil:
		c.Problem = fmt.Sprintf("reading %s: %v", c.Bundle, err)
		return c
	case !haveTrust:
		c.Problem = "no trusted key given to verify " + c.Bundle
		return c
	}
	res, err := signing.Verify(ctx, data, m.Artifact.Digest, r.opts.Trust)
	if err != nil {
		c.Problem = err.Error()
		return c
	}
	c.Signer = res.Identity
	return c
}

// apply applies every drivable target, recording state and audit.
func (r *applyRun) apply(ctx context.Context) error {
	open := Opener(r.inv.Source, r.opts.HTTPClient)
	rev := r.inv.Source.Revision
	st, err := loadStates(r.opts.StateDir)
	if err != nil {
		return err
	}
	var failed []error
	var audit []AuditEntry
	now := r.opts.now().UTC()
	for _, b := range r.bindings {
		desired := Desired(r.inv, b.Stage)
		tp := TargetPlan{Target: b.Name, Stage: b.Stage, Kind: b.Kind, Path: b.Path, Changes: ChangeSet{}}
		if b.Driver == nil {
			tp.Skipped, tp.Changes = b.Skip, skippedChanges(desired)
			r.res.Targets = append(r.res.Targets, tp)
			continue
		}
		cs, err := b.Driver.Apply(ctx, rev, desired, open)
		ts := st[b.Name]
		ts.LastAttemptedRevision = rev
		result := "applied"
		if err != nil {
			tp.Error = err.Error()
			result = "failed: " + err.Error()
			ts.Result = result
			failed = append(failed, fmt.Errorf("target %s: %w", b.Name, err))
			if cs == nil {
				// Nothing was touched: record what was attempted.
				if pcs, perr := b.Driver.Plan(ctx, desired); perr == nil {
					cs = pcs
				}
			}
		} else {
			ts.LastAppliedRevision = rev
			ts.Result = "applied"
		}
		st[b.Name] = ts
		if cs != nil {
			tp.Changes = cs
		}
		for _, c := range tp.Changes {
			if c.Action == target.Unchanged {
				continue
			}
			audit = append(audit, AuditEntry{Time: now, Revision: rev, Target: b.Name, Model: c.Model,
				From: c.From, To: c.To, Digest: c.Digest, Signer: r.signers[c.Model+"@"+c.To],
				Approvers: []string{}, Action: string(c.Action), Result: result})
		}
		r.res.Targets = append(r.res.Targets, tp)
	}
	if err := writeStates(r.opts.StateDir, st); err != nil {
		return err
	}
	if err := AppendAudit(r.opts.StateDir, audit); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %w", ErrTargetFailed, errors.Join(failed...))
	}
	return nil
}

// recordRefusal records the attempt on every drivable target and one audit
// line per target.
func (r *applyRun) recordRefusal() error {
	st, err := loadStates(r.opts.StateDir)
	if err != nil {
		return err
	}
	rev := r.inv.Source.Revision
	now := r.opts.now().UTC()
	var audit []AuditEntry
	for _, b := range r.bindings {
		if b.Driver == nil {
			continue
		}
		ts := st[b.Name]
		ts.LastAttemptedRevision = rev
		ts.Result = "refused: " + r.res.Refused
		st[b.Name] = ts
		audit = append(audit, AuditEntry{Time: now, Revision: rev, Target: b.Name, Approvers: []string{},
			Action: "refused", Result: "refused: " + r.res.Refused})
	}
	if err := writeStates(r.opts.StateDir, st); err != nil {
		return err
	}
	return AppendAudit(r.opts.StateDir, audit)
}
