package approval

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
	"github.com/cairnops/cairn/schema"
)

func TestEvaluable(t *testing.T) {
	ok := func() *inventory.Inventory {
		i := inv(model("a", "low", map[string]string{"staging": "1.0.0"}))
		i.SettingsOK = true
		return i
	}
	broken := func() *inventory.Inventory {
		i := ok()
		i.SettingsOK = false
		i.Problems = []inventory.Problem{{Pos: inventory.Position{File: inventory.SettingsFile}, Message: "x"}}
		return i
	}
	invalid := func() *inventory.Inventory {
		i := ok()
		i.Models = append(i.Models, &inventory.Model{Name: "b", Dir: "models/b"})
		return i
	}
	none := &inventory.Inventory{} // a base without an inventory
	tests := []struct {
		name       string
		base, head *inventory.Inventory
		want       string
	}{
		{"both evaluate", ok(), ok(), ""},
		{"the first inventory", none, ok(), ""},
		{"no base", nil, ok(), ""},
		{"head settings", ok(), broken(), "approvals cannot be evaluated: inventory.cue does not evaluate at the head"},
		{"base settings", broken(), ok(), "approvals cannot be evaluated: inventory.cue does not evaluate at the base"},
		{"both settings", broken(), broken(), "approvals cannot be evaluated: inventory.cue does not evaluate at the head"},
		{"head model", ok(), invalid(), "approvals cannot be evaluated: models/b does not evaluate at the head"},
		{"base model", invalid(), ok(), "approvals cannot be evaluated: models/b does not evaluate at the base"},
		{"no head", ok(), nil, "approvals cannot be evaluated: no inventory at the head"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Evaluable(tt.base, tt.head)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrNotEvaluable)
			assert.EqualError(t, err, tt.want)
		})
	}
}

func TestGoverningAndFindings(t *testing.T) {
	base := inv(model("a", "low", map[string]string{"staging": "1.0.0"}))
	base.SettingsOK = true
	base.Settings.Approvals = map[string]schema.Approval{"staging": {Min: 1}}
	head := inv(model("a", "low", map[string]string{"staging": "1.1.0"}))
	head.SettingsOK = true
	head.Settings.Rules = map[string]schema.Rule{policy.ApprovalsRule: {Severity: "off"}}

	assert.Equal(t, base.Settings.Approvals, Governing(base, head).Approvals, "the base governs")
	assert.Equal(t, head.Settings.Rules, Governing(nil, head).Rules, "no base: the head's own")
	assert.Equal(t, head.Settings.Rules, Governing(&inventory.Inventory{}, head).Rules, "a base without an inventory: the head's own")

	results := []Result{
		{Requirement: Requirement{Change: Change{Model: "a", Stage: "staging", From: "1.0.0", To: "1.1.0"}, Min: 2, Eligible: []string{"@acme/ml"}}, Approvers: []string{"bob"}},
		{Requirement: Requirement{Change: Change{Model: "a", Stage: "production", To: "1.1.0"}, Min: 1}, Approvers: []string{"carol"}},
	}
	// The head switches the rule off, but the base judges: a warning.
	fs := Findings(head, base, results)
	require.Len(t, fs, 1, "a satisfied requirement is no finding")
	assert.Equal(t, policy.Finding{Rule: policy.ApprovalsRule, Severity: policy.Warning, Model: "a",
		Message: "stages.staging: 1.0.0→1.1.0 needs 2 approvals from @acme/ml, has 1"}, fs[0])
	// Without a base the head's own severity applies.
	assert.Empty(t, Findings(head, nil, results))
	head.Settings.Rules = map[string]schema.Rule{policy.ApprovalsRule: {Severity: "error"}}
	fs = Findings(head, nil, []Result{{Requirement: Requirement{Change: Change{Model: "a", Stage: "staging", To: "1.1.0"}, Min: 1}}})
	require.Len(t, fs, 1)
	assert.Equal(t, policy.Error, fs[0].Severity)
	assert.Equal(t, "stages.staging: -→1.1.0 needs 1 approval, has 0", fs[0].Message)
}
