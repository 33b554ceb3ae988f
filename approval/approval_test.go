package approval

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/schema"
)

func model(name, tier string, stages map[string]string) *inventory.Model {
	m := &inventory.Model{Name: name, Valid: true}
	m.Card.Risk.Tier = tier
	m.Stages = stages
	return m
}

func inv(models ...*inventory.Model) *inventory.Inventory {
	i := &inventory.Inventory{Models: models}
	i.Settings.Stages = []string{"development", "staging", "production"}
	return i
}

func TestChanges(t *testing.T) {
	base := inv(
		model("a", "low", map[string]string{"staging": "1.0.0", "production": "0.9.0"}),
		model("gone", "high", map[string]string{"production": "3.0.0"}),
	)
	head := inv(
		model("a", "low", map[string]string{"development": "1.1.0", "staging": "1.0.0", "production": "1.0.0"}),
		model("new", "medium", map[string]string{"staging": "0.1.0"}),
	)
	got := Changes(base, head)
	want := []Change{
		{Model: "a", Stage: "development", To: "1.1.0", Tier: "low"},
		{Model: "a", Stage: "production", From: "0.9.0", To: "1.0.0", Tier: "low"},
		{Model: "gone", Stage: "production", From: "3.0.0", Tier: "high"},
		{Model: "new", Stage: "staging", To: "0.1.0", Tier: "medium"},
	}
	assert.Equal(t, want, got)
	assert.Equal(t, "a production 0.9.0→1.0.0", got[1].String())
	assert.Empty(t, Changes(head, head))
	assert.Len(t, Changes(nil, head), 4)
}

func TestRequirements(t *testing.T) {
	settings := schema.Settings{Approvals: map[string]schema.Approval{
		"staging": {Min: 1},
		"production": {Min: 1, From: []string{"@acme/platform"}, ByRisk: map[string]schema.RiskApproval{
			"high": {Min: 2, From: []string{"@acme/platform", "@acme/risk"}},
			"low":  {Min: 0},
		}},
	}}
	changes := []Change{
		{Model: "a", Stage: "development", To: "1"},
		{Model: "b", Stage: "staging", To: "1", Tier: "high"},
		{Model: "c", Stage: "production", To: "1", Tier: "high"},
		{Model: "d", Stage: "production", To: "1", Tier: "medium"},
		{Model: "e", Stage: "production", To: "1", Tier: "low"},
	}
	got := Requirements(settings, changes)
	require.Len(t, got, 3)
	assert.Equal(t, Requirement{Change: changes[1], Min: 1}, got[0])
	assert.Equal(t, Requirement{Change: changes[2], Min: 2, Eligible: []string{"@acme/platform", "@acme/risk"}}, got[1])
	assert.Equal(t, Requirement{Change: changes[3], Min: 1, Eligible: []string{"@acme/platform"}}, got[2])
}

// TestTierChangeKeepsTheBar: a pull request that lowers a model's risk
// tier while it promotes it still needs what the base's tier asks, and one
// that raises it needs what the new tier asks.
func TestTierChangeKeepsTheBar(t *testing.T) {
	settings := schema.Settings{Approvals: map[string]schema.Approval{
		"production": {Min: 1, ByRisk: map[string]schema.RiskApproval{
			"high":   {Min: 2, From: []string{"@acme/risk"}},
			"medium": {Min: 1},
		}},
	}}
	base := inv(model("a", "high", map[string]string{"production": "1.0.0"}), model("b", "low", map[string]string{"production": "1.0.0"}))
	head := inv(model("a", "low", map[string]string{"production": "2.0.0"}), model("b", "high", map[string]string{"production": "2.0.0"}))
	changes := Changes(base, head)
	assert.Equal(t, []Change{
		{Model: "a", Stage: "production", From: "1.0.0", To: "2.0.0", Tier: "low", BaseTier: "high"},
		{Model: "b", Stage: "production", From: "1.0.0", To: "2.0.0", Tier: "high", BaseTier: "low"},
	}, changes)
	got := Requirements(settings, changes)
	require.Len(t, got, 4)
	assert.Equal(t, Requirement{Change: changes[0], Min: 1}, got[0], "the head's tier")
	assert.Equal(t, Requirement{Change: changes[0], Min: 2, Eligible: []string{"@acme/risk"}}, got[1], "and the base's")
	assert.Equal(t, Requirement{Change: changes[1], Min: 2, Eligible: []string{"@acme/risk"}}, got[2], "the new tier's")
	assert.Equal(t, Requirement{Change: changes[1], Min: 1}, got[3], "and the base's, the default")

	// A tier that changes between two that ask the same adds nothing.
	same := inv(model("a", "medium", map[string]string{"production": "2.0.0"}))
	changes = Changes(inv(model("a", "unset", map[string]string{"production": "1.0.0"})), same)
	assert.Len(t, Requirements(settings, changes), 1)
}

func TestEvaluate(t *testing.T) {
	const head, old = "bbbb", "aaaa"
	at := func(m int) time.Time { return time.Date(2026, 1, 1, 0, m, 0, 0, time.UTC) }
	req := Requirement{Change: Change{Model: "fraud", Stage: "production"}, Min: 2, Eligible: []string{"@acme/risk", "@carol"}}
	members := func(ctx context.Context, org, slug string) ([]string, error) {
		if org == "acme" && slug == "risk" {
			return []string{"Bob", "dave", "alice"}, nil
		}
		return nil, errors.New("no such team")
	}
	tests := []struct {
		name    string
		reviews []Review
		want    []string
	}{
		{"none", nil, []string{}},
		{"one team member", []Review{{User: "bob", State: "APPROVED", CommitID: head, SubmittedAt: at(1)}}, []string{"bob"}},
		{"two", []Review{
			{User: "bob", State: "APPROVED", CommitID: head, SubmittedAt: at(1)},
			{User: "carol", State: "APPROVED", CommitID: head, SubmittedAt: at(2)},
		}, []string{"bob", "carol"}},
		{"older commit", []Review{{User: "bob", State: "APPROVED", CommitID: old, SubmittedAt: at(1)}}, []string{}},
		{"author", []Review{{User: "alice", State: "APPROVED", CommitID: head, SubmittedAt: at(1)}}, []string{}},
		{"outsider", []Review{{User: "eve", State: "APPROVED", CommitID: head, SubmittedAt: at(1)}}, []string{}},
		{"dismissed later", []Review{
			{User: "bob", State: "APPROVED", CommitID: head, SubmittedAt: at(1)},
			{User: "bob", State: "DISMISSED", CommitID: head, SubmittedAt: at(2)},
		}, []string{}},
		{"changes requested later", []Review{
			{User: "bob", State: "APPROVED", CommitID: head, SubmittedAt: at(1)},
			{User: "bob", State: "CHANGES_REQUESTED", CommitID: head, SubmittedAt: at(2)},
		}, []string{}},
		{"comment after approval keeps it", []Review{
			{User: "bob", State: "APPROVED", CommitID: head, SubmittedAt: at(1)},
			{User: "bob", State: "COMMENTED", CommitID: head, SubmittedAt: at(2)},
		}, []string{"bob"}},
		{"re-approved on head", []Review{
			{User: "dave", State: "APPROVED", CommitID: old, SubmittedAt: at(1)},
			{User: "dave", State: "APPROVED", CommitID: head, SubmittedAt: at(3)},
		}, []string{"dave"}},
		{"latest by time, not list order", []Review{
			{User: "dave", State: "APPROVED", CommitID: head, SubmittedAt: at(5)},
			{User: "dave", State: "CHANGES_REQUESTED", CommitID: head, SubmittedAt: at(3)},
		}, []string{"dave"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Evaluate(context.Background(), []Requirement{req}, tt.reviews, "alice", head, members)
			require.NoError(t, err)
			require.Len(t, res, 1)
			assert.Equal(t, tt.want, res[0].Approvers)
			assert.Equal(t, len(tt.want) >= 2, res[0].Satisfied())
			assert.Equal(t, len(tt.want) >= 2, Satisfied(res))
		})
	}

	t.Run("team lookup error", func(t *testing.T) {
		bad := Requirement{Min: 1, Eligible: []string{"@acme/nope"}}
		_, err := Evaluate(context.Background(), []Requirement{bad},
			[]Review{{User: "bob", State: "APPROVED", CommitID: head}}, "alice", head, members)
		require.ErrorContains(t, err, "resolving team @acme/nope: no such team")
	})
	t.Run("any reviewer", func(t *testing.T) {
		res, err := Evaluate(context.Background(), []Requirement{{Min: 1}},
			[]Review{{User: "eve", State: "APPROVED", CommitID: head}}, "alice", head, nil)
		require.NoError(t, err)
		assert.Equal(t, []string{"eve"}, res[0].Approvers)
	})
}

func TestDescribe(t *testing.T) {
	assert.Equal(t, "no approvals required", Describe(nil))
	r := Result{Requirement: Requirement{Change: Change{Model: "fraud", Stage: "production"}, Min: 2, Eligible: []string{"@acme/risk"}}, Approvers: []string{"bob"}}
	assert.Equal(t, "waiting for fraud production: 1 more from @acme/risk", Describe([]Result{r}))
	r.Approvers = append(r.Approvers, "carol")
	assert.Equal(t, "all required approvals present (1 change)", Describe([]Result{r}))
}
