package approval

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
	"github.com/cairnops/cairn/schema"
)

// Governing returns the settings that decide what the change from base to
// head needs: the base's when it has an inventory (policy.Governed), so a
// pull request cannot lower its own bar, else the head's.
func Governing(base, head *inventory.Inventory) schema.Settings {
	if policy.Governed(base) {
		return base.Settings
	}
	return head.Settings
}

// Findings turns unsatisfied requirements into findings of the approvals
// rule, placed at the stage pin: warnings unless the governing inventory.cue
// (the base's, see policy.Governed) sets another severity.
func Findings(head, base *inventory.Inventory, results []Result) []policy.Finding {
	rules := Governing(base, head).Rules
	sev := policy.Warning
	if o, ok := rules[policy.ApprovalsRule]; ok && o.Severity != "" {
		sev = policy.Severity(o.Severity)
	}
	if sev == policy.Off {
		return nil
	}
	var out []policy.Finding
	for _, r := range results {
		if r.Satisfied() {
			continue
		}
		f := policy.Finding{Rule: policy.ApprovalsRule, Severity: sev, Model: r.Model,
			Message: fmt.Sprintf("stages.%s: %s→%s needs %d %s%s, has %d",
				r.Stage, orDash(r.From), orDash(r.To), r.Min, pluralWord(r.Min, "approval"), fromText(r.Eligible), len(r.Approvers))}
		if m := head.Model(r.Model); m != nil {
			pos := m.Pos("stages", r.Stage)
			f.File, f.Line, f.Column = pos.File, pos.Line, pos.Column
		}
		out = append(out, f)
	}
	return out
}

// ErrNotEvaluable is wrapped by Evaluable's error.
var ErrNotEvaluable = errors.New("approvals cannot be evaluated")

// Evaluable returns nil when the approvals of the change from base to head
// can be computed: inventory.cue evaluates on both sides (a base without an
// inventory is the first one and counts as empty) and so does every model.
// Otherwise it returns an error wrapping ErrNotEvaluable that names the
// first side and file at fault: a change whose requirements are unknown
// must never read as approved.
func Evaluable(base, head *inventory.Inventory) error {
	side := func(name string, inv *inventory.Inventory) error {
		if inv == nil || !inv.SettingsOK && len(inv.Problems) == 0 && len(inv.Models) == 0 {
			return nil // no inventory at this revision
		}
		if !inv.SettingsOK {
			return fmt.Errorf("%w: %s does not evaluate at the %s", ErrNotEvaluable, inventory.SettingsFile, name)
		}
		for _, m := range inv.Models {
			if !m.Valid {
				return fmt.Errorf("%w: %s does not evaluate at the %s", ErrNotEvaluable, m.Dir, name)
			}
		}
		return nil
	}
	if head == nil {
		return fmt.Errorf("%w: no inventory at the head", ErrNotEvaluable)
	}
	if err := side("head", head); err != nil {
		return err
	}
	return side("base", base)
}

func fromText(from []string) string {
	if len(from) == 0 {
		return ""
	}
	return " from " + strings.Join(from, " or ")
}
