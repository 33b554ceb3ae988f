package daemon

import (
	"context"
	"fmt"
	"sort"

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

// tellApplied records an event for each change of res to a kserve target:
// Applied (Healed when heal), or Failed when the target failed.
func (d *Daemon) tellApplied(ctx context.Context, inv *inventory.Inventory, plans []reconciler.TargetPlan, heal bool) {
	if d.opts.Events == nil {
		return
	}
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
			e.Note = changeNote(c, rev)
			if tp.Error != "" {
				e.Warning, e.Reason = true, ReasonFailed
				e.Note = fmt.Sprintf("cairn could not apply %s: %s", e.Note, tp.Error)
			} else {
				e.Note = "cairn " + e.Note
			}
			d.record(ctx, e)
		}
	}
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

// tellRefused records a Warning for each model a kserve target of the
// refused revision would serve: the target keeps what it serves.
func (d *Daemon) tellRefused(ctx context.Context, inv *inventory.Inventory, why string) {
	if d.opts.Events == nil || inv == nil {
		return
	}
	nss := eventTargets(inv)
	names := make([]string, 0, len(nss))
	for n := range nss {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		stage := inv.Settings.Targets[name].Stage
		for _, m := range reconciler.Desired(inv, stage) {
			d.record(ctx, Event{Target: name, Context: nss[name].context, Namespace: nss[name].namespace, Model: m.Name, Warning: true,
				Reason: ReasonRefused, Action: "apply",
				Note: fmt.Sprintf("cairn refused revision %s (%s %s): %s; the target keeps what it serves", inv.Source.Revision, m.Name, m.Version, why)})
		}
	}
}
