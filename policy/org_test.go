package policy_test

import (
	"context"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// orgFiles is model m running in development, with no organisation rules.
var orgFiles = withFiles(defaultFiles, inDevelopment)

// TestOrgRules runs organisation rules on model m: each message is a
// finding of the rule's own id, with its severity, placed at the field path
// the message starts with.
func TestOrgRules(t *testing.T) {
	tests := []ruleCase{
		{name: "deny at the field the message names", files: map[string]string{"policies/owners.cue": `package policy

rules: "owners-are-people": {
	description: "owners are people"
	model:       _
	deny: [for o in model.card.owners {"card.owners: \(o) is a team"}]
}
`},
			want: []string{
				`m | models/m/card.cue:6:2: card.owners: @acme/ml is a team (owners-are-people)`,
			}},
		{name: "placement", files: map[string]string{"policies/place.cue": `package policy

rules: place: {
	severity: "warning"
	model:    _
	deny: [
		"no path here",
		"card.privacy.dpia: the closest enclosing field",
		"versions.\"1.0.0\".artifact.uri: a quoted version",
		"stages.development: \(model.stages.development) runs",
	]
}
`},
			want: []string{
				`m | models/m/card.cue:1:1: warning: no path here (place)`,
				`m | models/m/card.cue:3:1: warning: card.privacy.dpia: the closest enclosing field (place)`,
				`m | models/m/model.cue:3:31: warning: versions."1.0.0".artifact.uri: a quoted version (place)`,
				`m | models/m/model.cue:5:10: warning: stages.development: 1.0.0 runs (place)`,
			}},
		{name: "off, empty and absent deny", files: map[string]string{"policies/quiet.cue": `package policy

rules: silenced: {severity: "off", model: _, deny: ["card: silenced"]}
rules: empty: {model: _, deny: []}
rules: "no-deny": {model: _}
rules: conditional: {model: _, deny: [if model.card.risk.tier == "high" {"card.risk: high"}]}
`}},
		{name: "severity set in inventory.cue", files: map[string]string{
			"inventory.cue": "package inventory\n\nrules: loud: severity: \"error\"\nrules: quiet: severity: \"warning\"\nrules: silenced: severity: \"off\"\n",
			"policies/sev.cue": `package policy

rules: loud: {severity: "warning", model: _, deny: ["card.title: loud"]}
rules: quiet: {model: _, deny: ["card.title: quiet"]}
rules: silenced: {model: _, deny: ["card.title: silenced"]}
`},
			want: []string{
				`m | models/m/card.cue:4:2: card.title: loud (loud)`,
				`m | models/m/card.cue:4:2: warning: card.title: quiet (quiet)`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, validate(t, withFiles(orgFiles, tt.files), nil))
		})
	}
}

// TestPolicyProblems reports a policy file that does not compile, or a rule
// id already taken, as one finding of rule policy at its file:line:col; the
// other files' rules still run.
func TestPolicyProblems(t *testing.T) {
	owners := `package policy

rules: owners: {model: _, deny: ["card.owners: still runs"]}
`
	tests := []ruleCase{
		{name: "syntax", files: map[string]string{"policies/broken.cue": "package policy\n\nrules: broken: {\n\tdeny: [\n"},
			want: []string{
				` | policies/broken.cue:4:10: policy does not compile: expected ']', found 'EOF' (policy)`,
			}},
		{name: "package", files: map[string]string{"policies/pkg.cue": "package rules\n\nrules: x: {model: _, deny: [\"card: x\"]}\n"},
			want: []string{
				` | policies/pkg.cue:1:1: package "rules": policy files are package policy (policy)`,
			}},
		{name: "undefined reference", files: map[string]string{"policies/ref.cue": "package policy\n\nrules: ref: {model: _, deny: [nowhere]}\n"},
			want: []string{
				` | policies/ref.cue:3:31: policy does not compile: rules.ref.deny: reference "nowhere" not found (policy)`,
			}},
		{name: "severity", files: map[string]string{"policies/sev.cue": "package policy\n\nrules: loud: {\n\tseverity: \"fatal\"\n\tmodel:    _\n}\n"},
			want: []string{
				` | policies/sev.cue:4:12: policy does not compile: rules.loud.severity: "fatal" is not allowed, want "error" | "off" | "warning" (policy)`,
			}},
		{name: "deny is not a list", files: map[string]string{"policies/deny.cue": "package policy\n\nrules: d: {\n\tmodel: _\n\tdeny:  \"card: no\"\n}\n"},
			want: []string{
				` | policies/deny.cue:5:9: policy does not compile: rules.d.deny: conflicting values "card: no" and [...] (mismatched types string and list) (policy)`,
			}},
		{name: "other files are not policies", files: map[string]string{
			"policies/README.md":    "# rules: not CUE\n",
			"policies/old/gone.cue": "package policy\n\nrules: gone: {\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := withFiles(orgFiles, withFiles(map[string]string{"policies/owners.cue": owners}, tt.files))
			want := append([]string{`m | models/m/card.cue:6:2: card.owners: still runs (owners)`}, tt.want...)
			got := validate(t, files, nil)
			assert.Equal(t, want, got)
		})
	}
}

// TestPolicyProblemSeverity: rules: policy: severity sets how much a
// broken policy file matters.
func TestPolicyProblemSeverity(t *testing.T) {
	files := withFiles(orgFiles, map[string]string{
		"inventory.cue":       "package inventory\n\nrules: policy: severity: \"warning\"\n",
		"policies/broken.cue": "package policy\n\nrules: broken: {\n",
	})
	rep := evaluateTree(t, files, nil)
	assert.Equal(t, []string{` | policies/broken.cue:3:18: warning: policy does not compile: expected '}', found 'EOF' (policy)`}, lines(rep.Findings))
	assert.Equal(t, policy.Summary{Warnings: 1}, rep.Summary)
}

// TestPolicyEvaluationError reports a rule that cannot be evaluated once,
// for the first model by name, at the rule's failing expression.
func TestPolicyEvaluationError(t *testing.T) {
	files := withFiles(defaultFiles, map[string]string{
		"models/m/card.cue":  "",
		"models/b/card.cue":  lowCard,
		"models/b/model.cue": inDevelopment["models/m/model.cue"],
		"models/a/card.cue":  lowCard,
		"models/a/model.cue": inDevelopment["models/m/model.cue"],
		"policies/typo.cue": `package policy

rules: typo: {
	model: _
	deny: [if model.card.titel == "" {"no title"}]
}
rules: number: {
	model: _
	deny: [1]
}
rules: fine: {model: _, deny: ["card.title: fine"]}
`,
	})
	assert.Equal(t, []string{
		`a | models/a/card.cue:4:2: card.title: fine (fine)`,
		`b | models/b/card.cue:4:2: card.title: fine (fine)`,
		`a | policies/typo.cue:5:23: rule "typo" cannot be evaluated for model a: rules.typo.deny: undefined field: titel; make deny a list of strings that every model can evaluate (policy)`,
		`a | policies/typo.cue:9:9: rule "number" cannot be evaluated for model a: rules.number.deny.0: cannot use value 1 (type int) as string; make deny a list of strings that every model can evaluate (policy)`,
	}, validate(t, files, nil))
}

// TestPolicyDuplicateIDs reports a rule id that a built-in rule or an
// earlier file already has as a policy finding in the file that repeats it,
// and runs only the first definition. The line and column are not checked:
// they are 1:1 today, not the repeated rule's, because the rule's value,
// unified with the policy schema, carries the schema's position.
func TestPolicyDuplicateIDs(t *testing.T) {
	files := withFiles(orgFiles, map[string]string{
		"policies/a.cue":      "package policy\n\nrules: twice: {model: _, deny: [\"card.title: from a\"]}\n",
		"policies/b.cue":      "package policy\n\nrules: other: {model: _, deny: [\"card.license: from b\"]}\nrules: twice: {model: _, deny: [\"card.title: from b\"]}\n",
		"policies/schema.cue": "package policy\n\nrules: schema: {model: _, deny: [\"card: shadow\"]}\n",
	})
	rep := evaluateTree(t, files, nil)
	type found struct{ rule, model, file, msg string }
	var got []found
	for _, f := range rep.Findings {
		require.Equal(t, policy.Error, f.Severity)
		got = append(got, found{f.Rule, f.Model, f.File, f.Message})
	}
	assert.Equal(t, []found{
		{"twice", "m", "models/m/card.cue", "card.title: from a"},
		{"other", "m", "models/m/card.cue", "card.license: from b"},
		{"policy", "", "policies/b.cue", `rule "twice" is already defined (policies/a.cue); give it another id`},
		{"policy", "", "policies/schema.cue", `rule "schema" is already defined (built-in); give it another id`},
	}, got)
}

// TestPolicyRulesList lists the organisation rules by id, with their
// severity, description and file, as `cairn rules` prints them.
func TestPolicyRulesList(t *testing.T) {
	_, pols := loadTree(t, withFiles(orgFiles, map[string]string{
		"policies/a.cue": "package policy\n\nrules: zeta: {model: _, severity: \"warning\", description: \"last\"}\n",
		"policies/z.cue": "package policy\n\nrules: alpha: {model: _}\nrules: mid: {model: _, severity: \"off\", description: \"between\"}\n",
	}))
	assert.Equal(t, []policy.Rule{
		{ID: "alpha", Severity: policy.Error, Description: "", Source: "policies/z.cue"},
		{ID: "mid", Severity: policy.Off, Description: "between", Source: "policies/z.cue"},
		{ID: "zeta", Severity: policy.Warning, Description: "last", Source: "policies/a.cue"},
	}, pols.Rules())
	assert.Empty(t, pols.Findings())

	var none *policy.Policies
	assert.Nil(t, none.Rules())
	assert.Nil(t, none.Findings())
}

// TestPoliciesFolderIsAFile: a policies path that cannot be read as a
// folder is an error, not an empty set of rules.
func TestPoliciesFolderIsAFile(t *testing.T) {
	src, err := inventory.OpenWorktree(writeTree(t, withFiles(orgFiles, map[string]string{"policies": "not a folder"})))
	require.NoError(t, err)
	_, err = policy.Load(context.Background(), src)
	assert.ErrorContains(t, err, "reading policies: ")
}

// TestPoliciesLoadCancelled returns ctx's error.
func TestPoliciesLoadCancelled(t *testing.T) {
	src, err := inventory.OpenWorktree(writeTree(t, withFiles(orgFiles, map[string]string{"policies/a.cue": "package policy\n"})))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = policy.Load(ctx, src)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestPolicyConflictMessages words a value that no alternative of a
// disjunction accepts as "X is not allowed, want A | B", and any other
// conflict as CUE does.
func TestPolicyConflictMessages(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"two alternatives", "rules: x: {model: _, severity: (\"error\" | \"off\") & \"warning\"}",
			` | policies/p.cue:3:33: policy does not compile: rules.x.severity: "warning" is not allowed, want "error" | "off" (policy)`},
		{"two values", "rules: x: {model: _, description: \"a\"}\nrules: x: description: \"b\"",
			` | policies/p.cue:4:24: policy does not compile: rules.x.description: conflicting values "b" and "a" (policy)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := validate(t, withFiles(orgFiles, map[string]string{"policies/p.cue": "package policy\n\n" + tt.src + "\n"}), nil)
			assert.Equal(t, []string{tt.want}, got)
		})
	}
}
