package daemon

import (
	"context"
	"fmt"
	"sort"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/targets"
)

// EventKind is the target kind whose models are told of applies, heals and
// refusals through Options.Events: its objects live in a cluster, where
// `kubectl describe` shows their events.
const EventKind = "kserve"

// Events is told of every apply, heal and refusal that concerns a model of
// a target of kind EventKind. Record must not block on the cluster for
// long: kubeevents.Recorder queues the event and returns.
type Events interface {
	Record(ctx context.Context, e Event) error
}

// Event is one apply, heal, failure or refusal concerning one model of one
// target: the InferenceService Model in Namespace.
type Event struct {
	Target string
	// Context is the target's kubeconfig context setting; empty for the current one.
	Context   string
	Namespace string
	Model     string
	// Warning is true for a refusal or a failure, false for an apply or a heal.
	Warning bool
	// Reason is Applied, Healed, Failed or Refused; Action is what was
	// done or refused: created, updated, deleted, apply.
	Reason, Action string
	// Note names the version and the revision, for a person to read.
	Note string
}

// Reasons of an Event.
const (
	ReasonApplied = "Applied"
	ReasonHealed  = "Healed"
	ReasonFailed  = "Failed"
	ReasonRefused = "Refused"
)

// eventTarget is where the objects of a target of kind EventKind live.
type eventTarget struct{ context, namespace string }

// eventTargets returns inv's targets of kind EventKind that name a
// namespace, by target name.
func eventTargets(inv *inventory.Inventory) map[string]eventTarget {
	out := map[string]eventTarget{}
	for name, t := range inv.Settings.Targets {
		if t.Kind != EventKind {
			continue
		}
		ns, _ := t.Config["namespace"].(string)
		kc, _ := t.Config["context"].(string)
		if ns != "" {
			out[name] = eventTarget{context: kc, namespace: ns}
		}
	}
	return out
}

// record tells d.opts.Events of e; a cluster out of reach is a warning.
func (d *Daemon) record(ctx context.Context, e Event) {
	if err := d.opts.Events.Record(ctx, e); err != nil {
		d.log.Warn("event", "target", e.Target, "model", e.Model, "error", maskURL(err.Error()))
	}
}

// tellApplied records AppliedEvents.
func (d *Daemon) tellApplied(ctx context.Context, inv *inventory.Inventory, plans []reconciler.TargetPlan, heal bool) {
	if d.opts.Events == nil {
		return
	}
	for _, e := range AppliedEvents(inv, plans, heal) {
		d.record(ctx, e)
	}
}

// tellRefused records RefusedEvents of the verdict's revision.
func (d *Daemon) tellRefused(ctx context.Context, v *gate.Verdict, why string) {
	if d.opts.Events == nil || v == nil || v.Inventory == nil {
		return
	}
	var implicated []string
	for _, f := range v.Errors() {
		implicated = append(implicated, f.Model)
	}
	for _, e := range RefusedEvents(v.Inventory, why, implicated) {
		d.record(ctx, e)
	}
}

// AppliedEvents returns an event for each change that plans made to a
// target of inv of kind EventKind: Applied (Healed when heal), or a
// Failed warning when the target failed. Unchanged models tell nothing.
func AppliedEvents(inv *inventory.Inventory, plans []reconciler.TargetPlan, heal bool) []Event {
	var out []Event
	nss := eventTargets(inv)
	rev := inv.Source.Revision
	for _, tp := range plans {
		et, ok := nss[tp.Target]
		if !ok || tp.Skipped != "" {
			continue
		}
		for _, c := range tp.Changes {
			if c.Action == targets.Unchanged || c.Action == targets.Skipped {
				continue
			}
			e := Event{Target: tp.Target, Context: et.context, Namespace: et.namespace, Model: c.Model, Reason: ReasonApplied, Action: string(c.Action)}
			if heal {
				e.Reason = ReasonHealed
			}
			e.Note = "cairn " + changeNote(c, rev)
			if tp.Error != "" {
				e.Warning, e.Reason = true, ReasonFailed
				e.Note = fmt.Sprintf("cairn could not apply: %s: %s", changeNote(c, rev), tp.Error)
			}
			out = append(out, e)
		}
	}
	return out
}

// changeNote says what c does at rev, version and revision named:
// "updated fraud-detector to 2.3.0 (from 2.2.0) at revision <sha>".
func changeNote(c targets.Change, rev string) string {
	switch c.Action {
	case targets.Deleted:
		return fmt.Sprintf("deleted %s %s at revision %s", c.Model, c.From, rev)
	case targets.Updated:
		return fmt.Sprintf("updated %s to %s (from %s) at revision %s", c.Model, c.To, c.From, rev)
	default:
		return fmt.Sprintf("%s %s %s at revision %s", c.Action, c.Model, c.To, rev)
	}
}

// RefusedEvents returns a Refused warning for each model that a target of
// kind EventKind of the refused revision inv would serve, and for each of
// implicated (the models its findings name, which may not evaluate); why
// is the refusal's one line. The targets keep what they serve.
func RefusedEvents(inv *inventory.Inventory, why string, implicated []string) []Event {
	var out []Event
	nss := eventTargets(inv)
	names := make([]string, 0, len(nss))
	for n := range nss {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		pinned := map[string]string{}
		for _, m := range reconciler.Desired(inv, inv.Settings.Targets[name].Stage) {
			pinned[m.Name] = m.Name + " " + m.Version
		}
		for _, m := range implicated {
			if _, ok := pinned[m]; !ok && m != "" {
				pinned[m] = m
			}
		}
		models := make([]string, 0, len(pinned))
		for m := range pinned {
			models = append(models, m)
		}
		sort.Strings(models)
		for _, m := range models {
			out = append(out, Event{Target: name, Context: nss[name].context, Namespace: nss[name].namespace, Model: m, Warning: true,
				Reason: ReasonRefused, Action: "apply",
				Note: fmt.Sprintf("cairn refused revision %s (%s): %s; the target keeps what it serves", inv.Source.Revision, pinned[m], why)})
		}
	}
	return out
}
