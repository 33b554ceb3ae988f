package policy

import (
	"fmt"
	"sort"
	"strings"
)

// builtin lists the built-in rules in the order DESIGN.md gives them.
var builtin = []Rule{
	{ID: "schema", Severity: Error, Description: "the model and settings unify with the schema", check: checkSchema},
	{ID: "stage-version", Severity: Error, Description: "every stage names a declared version; every stage is a declared stage", check: checkStageVersion},
}

func checkSchema(c *checkContext) []Finding {
	out := make([]Finding, 0, len(c.inv.Problems))
	for _, p := range c.inv.Problems {
		out = append(out, finding("schema", p.Model, p.Pos, p.Message))
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
		for _, stage := range sortedKeys(m.Stages) {
			v := m.Stages[stage]
			if c.inv.SettingsOK && !declared[stage] {
				out = append(out, finding("stage-version", m.Name, m.Pos("stages", stage),
					fmt.Sprintf("stages.%s: %q is not a stage of inventory.cue (stages: %s)", stage, stage, strings.Join(c.inv.Settings.Stages, ", "))))
			}
			if _, ok := m.Versions[v]; !ok {
				out = append(out, finding("stage-version", m.Name, m.Pos("stages", stage),
					fmt.Sprintf("stages.%s: version %q is not declared in versions (have: %s)", stage, v, strings.Join(sortedKeys(m.Versions), ", "))))
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
