package policy

import (
	"fmt"
	"strings"

	"github.com/cairnops/cairn/internal/keys"
	"github.com/cairnops/cairn/targets"
)

// builtin lists the built-in rules in the order DESIGN.md gives them. A new
// rule is one entry here and its check function.
var builtin = []Rule{
	{ID: "schema", Severity: Error, Description: "the model and settings unify with the schema", check: checkSchema},
	{ID: "pin-digest", Severity: Error, Description: "every version pins a sha256 digest and an immutable artifact URI (no branch, moving tag or latest)", check: checkPinDigest},
	{ID: "stage-version", Severity: Error, Description: "every stage names a declared version; every stage is a declared stage", check: checkStageVersion},
	{ID: "target-artifact", Severity: Error, Description: "every version a target serves has an artifact that target kind can fetch (kserve: https:// or oci://)", check: checkTargetArtifact},
	{ID: "promotion-path", Severity: Error, Description: "with a base revision: a version entering stage N was in stage N-1 at base (or already in N)", check: checkPromotionPath},
	{ID: "version-immutable", Severity: Error, Description: "with a base revision: a version's artifact digest and URI never change, and a version a stage used is not deleted", check: checkVersionImmutable},
	{ID: "review-due", Severity: Warning, Description: "card.review.lastReviewed + intervalDays is not in the past", check: checkReviewDue},
	{ID: "risk-assessment", Severity: Error, Description: "high and critical models in production have risk.assessment and validation", check: checkRiskAssessment},
	{ID: "pii-dpia", Severity: Error, Description: "a dataset with pii: true needs card.privacy.dpia", check: checkPIIDPIA},
	{ID: "monitors", Severity: Error, Description: "a model in production has at least one performance and one drift monitor", check: checkMonitors},
	{ID: "retired", Severity: Error, Description: "a retired model has no stages (the reconciler removes it from every target)", check: checkRetired},
	{ID: PolicyRule, Severity: Error, Description: "the organisation rules in policies/*.cue compile and evaluate"},
	// approvals needs a pull request's reviews: cairn ci checks it.
	{ID: ApprovalsRule, Severity: Warning, Description: "(pull requests) each stage change has the approvals that approvals asks for"},
}

func checkSchema(c *checkContext) []Finding {
	out := make([]Finding, 0, len(c.inv.Problems))
	for _, p := range c.inv.Problems {
		out = append(out, finding("schema", p.Model, p.Pos, p.Message))
	}
	return out
}

// checkTargetArtifact reports every version pinned at a stage whose targets
// cannot serve its artifact URI (targets.Serves).
func checkTargetArtifact(c *checkContext) []Finding {
	if !c.inv.SettingsOK {
		return nil
	}
	var out []Finding
	targetNames := keys.Sorted(c.inv.Settings.Targets)
	for _, m := range c.inv.Models {
		if !m.Valid || m.Retired {
			continue
		}
		for _, stage := range keys.Sorted(m.Stages) {
			v, ok := m.Versions[m.Stages[stage]]
			if !ok {
				continue // stage-version's finding
			}
			for _, name := range targetNames {
				t := c.inv.Settings.Targets[name]
				if t.Stage != stage {
					continue
				}
				if ok, want := targets.Serves(t.Kind, v.Artifact.URI); !ok {
					out = append(out, finding("target-artifact", m.Name, m.Pos("versions", m.Stages[stage], "artifact", "uri"),
						fmt.Sprintf("versions.%q.artifact.uri: %s target %s (stage %s) cannot fetch %q: want %s",
							m.Stages[stage], t.Kind, name, stage, v.Artifact.URI, want)))
				}
			}
		}
	}
	return out
}

func checkStageVersion(c *checkContext) []Finding {
	declared := map[string]bool{}
	for _, s := range c.inv.Settings.Stages {
		declared[s] = true
	}
	var out []Finding
	for _, m := range c.inv.Models {
		if !m.Valid {
			continue
		}
		for _, stage := range keys.Sorted(m.Stages) {
			v := m.Stages[stage]
			if c.inv.SettingsOK && !declared[stage] {
				out = append(out, finding("stage-version", m.Name, m.Pos("stages", stage),
					fmt.Sprintf("stages.%s: %q is not a stage of inventory.cue (stages: %s)", stage, stage, strings.Join(c.inv.Settings.Stages, ", "))))
			}
			if _, ok := m.Versions[v]; !ok {
				out = append(out, finding("stage-version", m.Name, m.Pos("stages", stage),
					fmt.Sprintf("stages.%s: version %q is not declared in versions (have: %s)", stage, v, strings.Join(keys.Sorted(m.Versions), ", "))))
			}
		}
	}
	return out
}
