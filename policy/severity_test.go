package policy_test

import (
	"context"
	"github.com/stretchr/testify/require"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
)

// overdue is model m, not reviewed for years, running an undeclared
// version in production without monitors: findings of review-due (a
// warning), stage-version and monitors (errors).
var overdue = withFiles(defaultFiles, map[string]string{
	"models/m/card.cue":  cardCUE("low", "2020-01-01"),
	"models/m/model.cue": versions12 + "stages: production: \"9.0.0\"\n",
})

const (
	overdueReview   = `m | models/m/card.cue:13:10: warning: card.review.lastReviewed: the review was due on 2020-12-31 (2153 days ago; interval 365 days); review the card and set lastReviewed to the review date (review-due)`
	overdueMonitors = `m | models/m/model.cue:5:9: monitors: the model runs in production without a performance or drift monitor; add a monitor with kind: "performance" and a monitor with kind: "drift" (stage "production") (monitors)`
	overdueStage    = `m | models/m/model.cue:5:9: stages.production: version "9.0.0" is not declared in versions (have: 1.0.0, 2.0.0) (stage-version)`
)

// TestSeverities sets rule severities in inventory.cue's rules:, which
// cannot touch schema, and reports ids that name no rule.
func TestSeverities(t *testing.T) {
	tests := []struct {
		name     string
		settings string
		want     []string
		summary  policy.Summary
	}{
		{"defaults", "", []string{overdueReview, overdueMonitors, overdueStage}, policy.Summary{Errors: 2, Warnings: 1}},
		{"raised, lowered and off", `rules: {"review-due": severity: "error", monitors: severity: "warning", "stage-version": severity: "off"}`,
			[]string{
				`m | models/m/card.cue:13:10: card.review.lastReviewed: the review was due on 2020-12-31 (2153 days ago; interval 365 days); review the card and set lastReviewed to the review date (review-due)`,
				`m | models/m/model.cue:5:9: warning: monitors: the model runs in production without a performance or drift monitor; add a monitor with kind: "performance" and a monitor with kind: "drift" (stage "production") (monitors)`,
			}, policy.Summary{Errors: 1, Warnings: 1}},
		{"entry without severity", `rules: "review-due": {}`, []string{overdueReview, overdueMonitors, overdueStage}, policy.Summary{Errors: 2, Warnings: 1}},
		{"schema stays on", `rules: schema: severity: "off"`, []string{
			` | inventory.cue:3:16: rules."schema": the schema rule cannot be softened or switched off (schema)`,
			overdueReview, overdueMonitors, overdueStage,
			`x | models/x/model.cue:3:22: stages.development: conflicting values 1 and string (mismatched types int and string) (schema)`,
		}, policy.Summary{Errors: 4, Warnings: 1}},
		{"unknown ids", `rules: {"reveiw-due": severity: "off", "owners-are-teams": severity: "warning"}`, []string{
			` | inventory.cue:3:9: rules."reveiw-due": no rule has this id (see cairn rules) (schema)`,
			` | inventory.cue:3:40: rules."owners-are-teams": no rule has this id (see cairn rules) (schema)`,
			overdueReview, overdueMonitors, overdueStage,
		}, policy.Summary{Errors: 4, Warnings: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			settings := "package inventory\n\n" + tt.settings + "\n"
			files := withFiles(overdue, map[string]string{"inventory.cue": settings})
			if tt.name == "schema stays on" {
				files["models/x/card.cue"] = lowCard
				files["models/x/model.cue"] = "package model\n\nstages: development: 1\n"
			}
			rep := evaluateTree(t, files, nil)
			assert.Equal(t, tt.want, lines(rep.Findings))
			assert.Equal(t, tt.summary, rep.Summary)
			assert.Equal(t, (len(files)-1)/2, rep.Models, "inventory.cue and a card.cue and model.cue per model")
			assert.Equal(t, inventory.Worktree, rep.Revision)
		})
	}
}

// TestGovernedByBase judges a revision by its base's organisation rules
// and severities when the base has an inventory: a change cannot weaken
// the rules that judge it. Its own policy files are still compiled.
func TestGovernedByBase(t *testing.T) {
	teams := "package policy\n\nrules: teams: {model: _, deny: [\"card.owners: name a team\"]}\n"
	const teamsFinding = `m | models/m/card.cue:6:2: card.owners: name a team (teams)`
	tests := []struct {
		name       string
		base, head map[string]string
		want       []string
	}{
		{name: "base severities", base: map[string]string{"inventory.cue": "package inventory\n\nrules: \"review-due\": severity: \"error\"\n"},
			head: map[string]string{"inventory.cue": "package inventory\n\nrules: \"review-due\": severity: \"off\"\n"},
			want: []string{
				`m | models/m/card.cue:13:10: card.review.lastReviewed: the review was due on 2020-12-31 (2153 days ago; interval 365 days); review the card and set lastReviewed to the review date (review-due)`,
				overdueMonitors, overdueStage,
			}},
		{name: "base without an inventory", base: map[string]string{"inventory.cue": ""},
			head: map[string]string{"inventory.cue": "package inventory\n\nrules: \"review-due\": severity: \"off\"\n"},
			want: []string{
				overdueMonitors,
				`m | models/m/model.cue:5:9: stages.production: version "9.0.0" enters production without passing staging (at base staging ran no version); promote it to staging first (promotion-path)`,
				overdueStage,
			}},
		{name: "base with broken settings", base: map[string]string{"inventory.cue": "package inventory\n\nrules: \"review-due\": severity: \"error\"\nstages: 1\n", "policies/teams.cue": teams},
			head: map[string]string{"inventory.cue": "package inventory\n\nrules: \"review-due\": severity: \"off\"\n"},
			want: []string{overdueMonitors, overdueStage}},
		{name: "base rules judge", base: map[string]string{"policies/teams.cue": teams},
			head: map[string]string{
				"inventory.cue":       "package inventory\n\nrules: {teams: severity: \"off\", newer: severity: \"warning\", policy: severity: \"warning\"}\n",
				"policies/newer.cue":  "package policy\n\nrules: newer: {model: _, deny: [\"card.title: newer\"]}\n",
				"policies/broken.cue": "package policy\n\nrules: broken: {\n",
			},
			want: []string{
				teamsFinding, overdueReview, overdueMonitors, overdueStage,
				` | policies/broken.cue:3:18: policy does not compile: expected '}', found 'EOF' (policy)`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := withFiles(overdue, tt.base)
			assert.Equal(t, tt.want, validate(t, withFiles(overdue, tt.head), base))
		})
	}
}

// TestUnknownRulesNeedPolicies judges rules: ids only when the organisation
// rules are known: without them any id could be one.
func TestUnknownRulesNeedPolicies(t *testing.T) {
	inv, _ := loadTree(t, withFiles(orgFiles, map[string]string{"inventory.cue": "package inventory\n\nrules: \"owners-are-teams\": severity: \"warning\"\n"}))
	rep, err := policy.Evaluate(context.Background(), inv, policy.Options{Now: reviewNow})
	require.NoError(t, err)
	assert.Equal(t, []policy.Finding{}, rep.Findings)
	assert.Equal(t, policy.Summary{}, rep.Summary)
}
