package remedy

import (
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
)

// PinTargets returns the target-drift findings of rep that pin pull
// requests answer: those of targets whose onDrift is "pr", where a version
// is deployed and another is wanted. observed is false when such a target
// was skipped or could not be observed, so that Remediate does not close
// their pull requests as resolved.
func PinTargets(inv *inventory.Inventory, rep *reconciler.DriftReport) (targets []TargetDrift, observed bool) {
	if rep == nil {
		return nil, false
	}
	observed = true
	for name, t := range inv.Settings.Targets {
		if t.OnDrift != "pr" {
			continue
		}
		_, failed := rep.Errors[name]
		_, skipped := rep.Skipped[name]
		if failed || skipped {
			observed = false
		}
	}
	for _, f := range rep.Findings {
		t, ok := inv.Settings.Targets[f.Target]
		if !ok || t.OnDrift != "pr" || f.Kind != reconciler.KindTargetDrift || f.Got == "" || f.Want == "" {
			continue
		}
		targets = append(targets, TargetDrift{Target: f.Target, Model: f.Model, Stage: t.Stage, Want: f.Want, Got: f.Got, Message: f.Message})
	}
	return targets, observed
}
