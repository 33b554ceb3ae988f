package reconciler

import (
	"context"
	"fmt"
	"strings"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/targets"
)

// ChangeSet is the changes to one target, sorted by model name.
type ChangeSet []targets.Change

// String returns one line per change, "<action> <model> <from>→<to>",
// columns aligned, "-" for an absent version, with the actions as the JSON
// spells them (created, updated, ...). It is stable for a given change set.
// Plans and results print through Plan.Text and Result.Text, which say
// them in the right tense.
func (cs ChangeSet) String() string {
	var b strings.Builder
	writeChanges(&b, "", cs, func(a targets.Action) string { return string(a) }, true)
	return b.String()
}

// writeChanges writes one line per change of cs, each prefixed with indent,
// the action as verb says it; unchanged models only when verbose.
func writeChanges(b *strings.Builder, indent string, cs ChangeSet, verb func(targets.Action) string, verbose bool) {
	aw, mw := 0, 0
	for _, c := range cs {
		if c.Action == targets.Unchanged && !verbose {
			continue
		}
		aw = max(aw, len(verb(c.Action)))
		mw = max(mw, len(c.Model))
	}
	for _, c := range cs {
		if c.Action == targets.Unchanged && !verbose {
			continue
		}
		line := fmt.Sprintf("%s%-*s  %-*s  %s→%s", indent, aw, verb(c.Action), mw, c.Model, orDash(c.From), orDash(c.To))
		if c.Object != "" {
			line += "  (" + c.Object + ")"
		}
		b.WriteString(line + "\n")
	}
}

// Count returns how many changes have action a.
func (cs ChangeSet) Count(a targets.Action) int {
	n := 0
	for _, c := range cs {
		if c.Action == a {
			n++
		}
	}
	return n
}

// planVerb is how a plan says an action: what apply would do.
func planVerb(a targets.Action) string {
	switch a {
	case targets.Created:
		return "create"
	case targets.Updated:
		return "update"
	case targets.Deleted:
		return "delete"
	case targets.Skipped:
		return "skip"
	}
	return string(a)
}

// appliedVerb is how a result says an action: what apply did. The actions
// are named in the past tense already.
func appliedVerb(a targets.Action) string { return string(a) }

// tally counts the changes of one or more change sets.
type tally struct{ created, updated, deleted, unchanged, skipped int }

func (t *tally) add(cs ChangeSet) {
	t.created += cs.Count(targets.Created)
	t.updated += cs.Count(targets.Updated)
	t.deleted += cs.Count(targets.Deleted)
	t.unchanged += cs.Count(targets.Unchanged)
	t.skipped += cs.Count(targets.Skipped)
}

// planned returns "3 to create, 1 to update, 0 to delete, 2 unchanged",
// with ", N skipped" when some are.
func (t tally) planned() string {
	s := fmt.Sprintf("%d to create, %d to update, %d to delete, %d unchanged", t.created, t.updated, t.deleted, t.unchanged)
	if t.skipped > 0 {
		s += fmt.Sprintf(", %d skipped", t.skipped)
	}
	return s
}

// applied returns "3 created, 1 updated, 0 deleted, 2 unchanged", with
// ", N skipped" when some are.
func (t tally) applied() string {
	s := fmt.Sprintf("%d created, %d updated, %d deleted, %d unchanged", t.created, t.updated, t.deleted, t.unchanged)
	if t.skipped > 0 {
		s += fmt.Sprintf(", %d skipped", t.skipped)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// TargetPlan is the plan, or the result of an apply, for one target.
type TargetPlan struct {
	Target  string    `json:"target"`
	Stage   string    `json:"stage"`
	Kind    string    `json:"kind"`
	Path    string    `json:"path,omitempty"`
	Changes ChangeSet `json:"changes"`
	// Skipped says why the target was not planned or applied.
	Skipped string `json:"skipped,omitempty"`
	// Error is why planning or applying this target failed.
	Error string `json:"error,omitempty"`
	// DeploymentError is why the apply could not be recorded through
	// Options.Deployments (one line); the apply itself is not affected.
	DeploymentError string `json:"deploymentError,omitempty"`
	// ReceiptError is why a change's receipt could not be issued through
	// Options.Receipts (one line, the first); the apply is not affected.
	ReceiptError string `json:"receiptError,omitempty"`
}

// String returns the target's plan as Plan.Text prints it, unchanged
// models left out.
func (tp TargetPlan) String() string {
	var b strings.Builder
	tp.write(&b, false, false)
	return b.String()
}

// write writes a header line "target <name> (<stage>, <kind>)", the change
// set indented (in the past tense when applied; unchanged models only when
// verbose), the reason the target was skipped or failed, and a summary line
// of the counts unless it failed. The changes of a failed target are what
// it was to do, so they are said as a plan says them.
func (tp TargetPlan) write(b *strings.Builder, applied, verbose bool) {
	fmt.Fprintf(b, "target %s (%s, %s)\n", tp.Target, tp.Stage, tp.Kind)
	verb := planVerb
	if applied && tp.Error == "" {
		verb = appliedVerb
	}
	writeChanges(b, "  ", tp.Changes, verb, verbose)
	if tp.Skipped != "" {
		fmt.Fprintf(b, "  skipped: %s\n", tp.Skipped)
	}
	if tp.Error != "" {
		fmt.Fprintf(b, "  error: %s\n", tp.Error)
		return
	}
	var t tally
	t.add(tp.Changes)
	if applied {
		b.WriteString("  " + t.applied() + "\n")
	} else {
		b.WriteString("  " + t.planned() + "\n")
	}
}

// writeTargets writes every target and a last line with the counts over
// the targets that did not fail, "<title>: ...".
func writeTargets(b *strings.Builder, tps []TargetPlan, applied, verbose bool) {
	var t tally
	for _, tp := range tps {
		tp.write(b, applied, verbose)
		if tp.Error == "" {
			t.add(tp.Changes)
		}
	}
	if applied {
		b.WriteString("Applied: " + t.applied() + "\n")
	} else {
		b.WriteString("Plan: " + t.planned() + "\n")
	}
}

// Plan is what Apply would change on every target.
type Plan struct {
	Revision string       `json:"revision"`
	Targets  []TargetPlan `json:"targets"`
}

// String returns Text(false).
func (p *Plan) String() string { return p.Text(false) }

// Text returns every target's plan, in name order, as `cairn plan` prints
// it: each change as what apply would do ("create", "update", "delete"),
// unchanged models only when verbose, a line of counts per target and a
// last one over all targets, "Plan: 3 to create, 1 to update, 0 to delete,
// 2 unchanged". It is stable for a given plan, so plans golden-test.
func (p *Plan) Text(verbose bool) string {
	var b strings.Builder
	writeTargets(&b, p.Targets, false, verbose)
	return b.String()
}

// Failed reports whether any target plan carries an error.
func (p *Plan) Failed() bool {
	for _, tp := range p.Targets {
		if tp.Error != "" {
			return true
		}
	}
	return false
}

// skippedChanges returns a skipped change for every desired model.
func skippedChanges(desired []targets.Model) ChangeSet {
	cs := make(ChangeSet, 0, len(desired))
	for _, m := range desired {
		cs = append(cs, targets.Change{Model: m.Name, Action: targets.Skipped, To: m.Version, Digest: m.Artifact.Digest})
	}
	return cs
}

// MakePlan computes what Apply would change on every target of inv (or the
// one opts.Target names) without touching any. A target that cannot be
// planned carries its Error; the error return is for ErrUnknownTarget.
func MakePlan(ctx context.Context, inv *inventory.Inventory, opts Options) (*Plan, error) {
	bs, err := Bindings(inv, opts)
	if err != nil {
		return nil, err
	}
	p := &Plan{Revision: inv.Source.Revision, Targets: []TargetPlan{}}
	for _, b := range bs {
		desired := Desired(inv, b.Stage)
		tp := TargetPlan{Target: b.Name, Stage: b.Stage, Kind: b.Kind, Path: b.Path, Changes: ChangeSet{}}
		if b.Driver == nil {
			tp.Skipped, tp.Changes = b.Skip, skippedChanges(desired)
		} else if cs, err := b.Driver.Plan(ctx, desired); err != nil {
			tp.Error = err.Error()
		} else {
			tp.Changes = cs
		}
		p.Targets = append(p.Targets, tp)
	}
	return p, nil
}
