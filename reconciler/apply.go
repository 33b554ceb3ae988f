package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/cairnops/cairn/artifact"
	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
	"github.com/cairnops/cairn/targets"
)

// ErrRefused is wrapped by Apply's error when the revision is refused before
// any target is touched: the gate's verdict (gate.Check) holds errors, such
// as validation findings or signatures that do not verify. It is
// gate.ErrRefused: a stalled condition, retrying the same revision cannot
// succeed.
var ErrRefused = gate.ErrRefused

// ErrTargetFailed is wrapped by Apply's error when one or more targets could
// not be applied (an artifact that does not match its digest, an
// unreachable URL, I/O). Each such target carries its Error.
var ErrTargetFailed = errors.New("apply failed")

// Result is what Apply did.
type Result struct {
	Revision string `json:"revision"`
	// Refused is why the revision was refused; empty when it was not.
	Refused string `json:"refused,omitempty"`
	// Findings are the findings of the verdict that refused the revision,
	// as validate reports them.
	Findings   []policy.Finding `json:"findings,omitempty"`
	Signatures []gate.Signature `json:"signatures,omitempty"`
	Targets    []TargetPlan     `json:"targets"`
}

// String returns Text(false).
func (r *Result) String() string { return r.Text(false) }

// Text returns what Apply did as `cairn apply` prints it: each target's
// changes in the past tense ("created", "updated", "deleted"), unchanged
// models only when verbose, a line of counts per target and a last one
// over the targets that did not fail, "Applied: 3 created, 1 updated, 0
// deleted, 2 unchanged". A refused revision touched no target: its text is
// the line "refused: <why>".
func (r *Result) Text(verbose bool) string {
	if r.Refused != "" && len(r.Targets) == 0 {
		return "refused: " + r.Refused + "\n"
	}
	var b strings.Builder
	writeTargets(&b, r.Targets, true, verbose)
	if r.Refused != "" {
		b.WriteString("refused: " + r.Refused + "\n")
	}
	return b.String()
}

// applyRun carries one Apply through its steps.
type applyRun struct {
	v        *gate.Verdict
	inv      *inventory.Inventory
	opts     Options
	bindings []Binding
	res      *Result
}

// Apply applies the desired state of the verdict's revision to every target
// (or the one opts.Target names) when the verdict allows it
// (gate.Verdict.Allow). A refused revision touches no target and returns an
// error wrapping ErrRefused; targets that fail return an error wrapping
// ErrTargetFailed after the others were applied. Every attempt is recorded
// in <StateDir>/targets.json and every change in <StateDir>/audit.jsonl,
// each target's before the next target is applied. Other errors are I/O on
// the state directory (no further target is touched) or ErrUnknownTarget. The
// Result is returned whenever it is not nil.
func Apply(ctx context.Context, v *gate.Verdict, opts Options) (*Result, error) {
	if v == nil || v.Inventory == nil {
		return nil, fmt.Errorf("%w: no verdict", ErrRefused)
	}
	inv := v.Inventory
	bs, err := Bindings(inv, opts)
	if err != nil {
		return nil, err
	}
	r := &applyRun{v: v, inv: inv, opts: opts, bindings: bs,
		res: &Result{Revision: inv.Source.Revision, Targets: []TargetPlan{}, Signatures: v.Signatures}}
	if err := v.Allow(); err != nil {
		r.res.Refused = strings.TrimPrefix(err.Error(), ErrRefused.Error()+": ")
		r.res.Findings = v.Report.Findings
		if rerr := r.recordRefusal(); rerr != nil {
			return r.res, errors.Join(err, rerr)
		}
		return r.res, err
	}
	if err := r.apply(ctx); err != nil {
		return r.res, err
	}
	return r.res, nil
}

// apply applies every drivable target, recording state and audit.
func (r *applyRun) apply(ctx context.Context) error {
	open := withProgress(artifact.NewOpener(r.inv.Source, r.opts.HTTPClient).WithCredentials(r.opts.Registry).Target(), r.opts.Progress)
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
			// A target Cairn should deploy to but cannot reach is a failure:
			// exit 0 would say production runs what git says.
			tp.Error, tp.Changes = b.Skip, skippedChanges(desired)
			failed = append(failed, fmt.Errorf("target %s: %s", b.Name, b.Skip))
			r.res.Targets = append(r.res.Targets, tp)
			continue
		}
		end := r.beginDeployment(ctx, b, desired, st[b.Name], &tp)
		cs, err := b.Driver.Apply(ctx, rev, desired, open)
		waited := map[string]error{}
		if err == nil {
			waited, err = r.wait(ctx, b)
		}
		if end != nil {
			if derr := end(ctx, err); derr != nil {
				tp.DeploymentError = oneLine(derr.Error())
			}
		}
		ts := st[b.Name]
		ts.LastAttemptedRevision = rev
		result := "applied"
		switch {
		case err != nil && len(waited) > 0:
			// Written, and waited for: the objects are applied, and the
			// result says whether each is served.
			tp.Error = err.Error()
			ts.LastAppliedRevision, ts.Result = rev, "not ready: "+err.Error()
			failed = append(failed, fmt.Errorf("target %s: %w", b.Name, err))
		case err != nil:
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
		default:
			ts.LastAppliedRevision = rev
			ts.Result = "applied"
		}
		st[b.Name] = ts
		if cs != nil {
			tp.Changes = cs
		}
		for _, c := range tp.Changes {
			if c.Action == targets.Unchanged {
				continue
			}
			res := result
			if werr, ok := waited[c.Model]; ok {
				res = "ready"
				if werr != nil {
					res = "not ready: " + werr.Error()
				}
			}
			e := AuditEntry{Time: now, Revision: rev, Target: b.Name, Model: c.Model,
				From: c.From, To: c.To, Digest: c.Digest, Signer: r.v.Signer(c.Model, c.To),
				Approvers: []string{}, Action: string(c.Action), Result: res}
			r.issueReceipt(ctx, b, c, &e, &tp)
			audit = append(audit, e)
		}
		r.res.Targets = append(r.res.Targets, tp)
		// Recorded before the next target is touched: a process killed
		// later loses none of this target's lines, and a state directory
		// that cannot be written stops the changes it could not record.
		if err := writeStates(r.opts.StateDir, st); err != nil {
			return err
		}
		if err := AppendAudit(r.opts.StateDir, r.opts.Audit, audit); err != nil {
			return err
		}
		audit = audit[:0]
	}
	if err := writeStates(r.opts.StateDir, st); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %w", ErrTargetFailed, errors.Join(failed...))
	}
	return nil
}

// wait waits, when Options.Wait asks it and the target loads models in its
// own time, for each model the apply wrote to be served. It returns the
// outcome by model (empty when it did not wait) and an error joining the
// models that are not served.
func (r *applyRun) wait(ctx context.Context, b Binding) (map[string]error, error) {
	w, ok := b.Driver.(Waiter)
	if !ok || r.opts.Wait <= 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Wait)
	defer cancel()
	out := w.Wait(ctx)
	var errs []error
	for _, m := range slices.Sorted(maps.Keys(out)) {
		if out[m] != nil {
			errs = append(errs, out[m])
		}
	}
	if len(errs) == 0 {
		return out, nil
	}
	return out, errors.Join(errs...)
}

// beginDeployment tells opts.Deployments of the apply to b, when there is
// one and the target has not applied this revision yet (one deployment per
// target and revision), and returns the function to call after the apply;
// nil when there is nothing to record or the record failed (tp says why).
func (r *applyRun) beginDeployment(ctx context.Context, b Binding, desired []targets.Model, ts TargetState, tp *TargetPlan) func(context.Context, error) error {
	rev := r.inv.Source.Revision
	if r.opts.Deployments == nil || ts.LastAppliedRevision == rev {
		return nil
	}
	end, err := r.opts.Deployments.Begin(ctx, Deployment{
		Target: b.Name, Stage: b.Stage, Revision: rev, URL: r.inv.Settings.Targets[b.Name].URL, Models: desired,
	})
	if err != nil {
		tp.DeploymentError = oneLine(err.Error())
		return nil
	}
	return end
}

// issueReceipt asks opts.Receipts, when set, for the receipt of change c
// to b, and records it in the audit entry e; a failure is tp's
// ReceiptError (the first one of the target).
func (r *applyRun) issueReceipt(ctx context.Context, b Binding, c targets.Change, e *AuditEntry, tp *TargetPlan) {
	if r.opts.Receipts == nil || !receiptable(c) {
		return
	}
	is, err := r.opts.Receipts.Issue(ctx, ReceiptRequest{Verdict: r.v, Target: b.Name, Stage: b.Stage, Change: c, Result: e.Result, Time: e.Time})
	if err != nil {
		if tp.ReceiptError == "" {
			tp.ReceiptError = oneLine(c.Model + ": " + err.Error())
		}
		return
	}
	e.Receipt = is.Path
	if is.Approvers != nil {
		e.Approvers = is.Approvers
	}
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
	return AppendAudit(r.opts.StateDir, r.opts.Audit, audit)
}

// withProgress returns open with every stream wrapped by progress
// ("copying <uri>", and the file's name for a multi-file artifact), or open
// itself when progress is nil.
func withProgress(open targets.Opener, progress func(string, io.Reader, int64) io.Reader) targets.Opener {
	if progress == nil {
		return open
	}
	return progressOpener{open, progress}
}

type progressOpener struct {
	targets.Opener
	progress func(string, io.Reader, int64) io.Reader
}

func (p progressOpener) Open(ctx context.Context, a targets.Artifact, f targets.File) (io.ReadCloser, error) {
	rc, err := p.Opener.Open(ctx, a, f)
	if err != nil {
		return nil, err
	}
	size := f.Size
	if size <= 0 {
		size = -1
	}
	label := "copying " + a.URI
	if strings.HasPrefix(a.URI, inventory.OCIPrefix) {
		label += " " + f.Name
	}
	return progressReadCloser{Reader: p.progress(label, rc, size), Closer: rc}, nil
}

type progressReadCloser struct {
	io.Reader
	io.Closer
}
