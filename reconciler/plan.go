package reconciler

import (
	"context"
	"fmt"
	"strings"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/target"
)

// ChangeSet is the changes to one target, sorted by model name.
type ChangeSet []target.Change

// String returns one line per change, "<action> <model> <from>→<to>",
// columns aligned, "-" for an absent version. It is stable for a given
// change set, so plans golden-test.
func (cs ChangeSet) String() string {
	aw, mw := 0, 0
	for _, c := range cs {
		aw = max(aw, len(c.Action))
		mw = max(mw, len(c.Model))
	}
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%-*s  %-*s  %s→%s\n", aw, c.Action, mw, c.Model, orDash(c.From), orDash(c.To))
	}
	return b.String()
}

// Count returns how many changes have action a.
func (cs ChangeSet) Count(a target.Action) int {
	n := 0
	for _, c := range cs {
		if c.Action == a {
			n++
		}
	}
	return n
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
}

// String returns a header line "target <name> (<stage>, <kind>)" and the
// change set indented, or the reason the target was skipped or failed.
func (tp TargetPlan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "target %s (%s, %s)\n", tp.Target, tp.Stage, tp.Kind)
	for _, line := range strings.SplitAfter(tp.Changes.String(), "\n") {
		if line != "" {
			b.WriteString("  " + line)
		}
	}
	if tp.Skipped != "" {
		fmt.Fprintf(&b, "  skipped: %s\n", tp.Skipped)
	}
	if tp.Error != "" {
		fmt.Fprintf(&b, "  error: %s\n", tp.Error)
	}
	return b.String()
}

// Plan is what Apply would change on every target.
type Plan struct {
	Revision string       `json:"revision"`
	Targets  []TargetPlan `json:"targets"`
}

// String returns every target's plan, in name order.
func (p *Plan) String() string {
	var b strings.Builder
	for _, tp := range p.Targets {
		b.WriteString(tp.String())
	}
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
func skippedChanges(desired []target.Model) ChangeSet {
	cs := make(ChangeSet, 0, len(desired))
	for _, m := range desired {
		cs = append(cs, target.Change{Model: m.Name, Action: target.Skipped, To: m.Version, Digest: m.Artifact.Digest})
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
