package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/invgen"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
)

// TestMain makes the test binary its own evaluation worker, as the cairn
// binary is.
func TestMain(m *testing.M) {
	if inventory.IsWorker() {
		os.Exit(inventory.ServeWorker())
	}
	os.Exit(m.Run())
}

func testIsolation(t testing.TB, b inventory.Budget) *inventory.Isolation {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return &inventory.Isolation{Command: []string{exe}, Budget: b, TimeHint: "--eval-timeout", MemoryHint: "--eval-memory"}
}

// isolatedReport loads the policies and the inventory of dir and evaluates them,
// isolated when iso is set.
func isolatedReport(t *testing.T, dir string, iso *inventory.Isolation) *policy.Report {
	t.Helper()
	ctx := context.Background()
	src, err := inventory.OpenWorktree(dir)
	require.NoError(t, err)
	pols, err := policy.LoadIsolated(ctx, src, iso)
	require.NoError(t, err)
	opts := inventory.Options{Visitor: pols.Visitor(), Isolate: iso, Workers: 2}
	inv, err := inventory.Load(ctx, src, opts)
	require.NoError(t, err)
	rep, err := policy.Evaluate(ctx, inv, policy.Options{Now: reviewNow, Policies: pols, Proposed: pols})
	require.NoError(t, err)
	return rep
}

func writePolicies(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, policy.PoliciesDir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	}
}

const slowCompile = `package policy

import "list"

_n: len([for a in list.Range(0, 1000, 1) for b in list.Range(0, 1000, 1) for c in list.Range(0, 1000, 1) {a + b + c}])
rules: slow: {description: "n=\(_n)", model: _, deny: []}
`

const slowVisit = `package policy

import "list"

rules: "slow-per-model": {
	model: _
	_n:    len(model.card.owners) * 1000
	deny: [if len([for a in list.Range(0, _n, 1) for b in list.Range(0, _n, 1) for c in list.Range(0, _n, 1) {a + b + c}]) < 0 {"never"}]
}
`

const teams = `package policy

import "strings"

rules: "owners-are-teams": {
	model: _
	deny: [for o in model.card.owners if !strings.HasPrefix(o, "@") {"card.owners: owner \(o) is not a team"}]
}
`

// TestIsolatedPolicyBudget: a policy file whose compile passes the budget
// is a policy finding at the file, and the other file's rule still judges
// every model; a rule that passes the budget on a model is one policy
// finding, and the models are still reported.
func TestIsolatedPolicyBudget(t *testing.T) {
	iso := testIsolation(t, inventory.Budget{Time: 2 * time.Second, Memory: 512 << 20})
	t.Run("compile", func(t *testing.T) {
		dir := t.TempDir()
		_, err := invgen.Write(dir, 2)
		require.NoError(t, err)
		writePolicies(t, dir, map[string]string{"a-slow.cue": slowCompile, "teams.cue": teams})
		rep := isolatedReport(t, dir, iso)
		var got []string
		for _, f := range rep.Findings {
			got = append(got, f.String())
		}
		assert.Equal(t, []string{
			"models/model-00000/model.cue:6:2: card.owners: owner oncall@acme.example is not a team (owners-are-teams)",
			"models/model-00001/model.cue:6:2: card.owners: owner oncall@acme.example is not a team (owners-are-teams)",
			"policies/a-slow.cue:1:1: evaluation passed the time budget of 2s; simplify the policy or raise --eval-timeout (policy)",
		}, got)
		assert.Equal(t, 2, rep.Models)
	})
	t.Run("visit", func(t *testing.T) {
		dir := t.TempDir()
		_, err := invgen.Write(dir, 2)
		require.NoError(t, err)
		writePolicies(t, dir, map[string]string{"slow.cue": slowVisit})
		rep := isolatedReport(t, dir, iso)
		require.Len(t, rep.Findings, 1)
		f := rep.Findings[0]
		assert.Equal(t, policy.PolicyRule, f.Rule)
		assert.Equal(t, "policies/slow.cue", f.File)
		assert.Equal(t, 5, f.Line, "at the rule that passed the budget")
		assert.Regexp(t, `^rule "slow-per-model" cannot be evaluated for model model-0000[01]: evaluation passed the time budget of 2s; simplify the rule or raise --eval-timeout$`, f.Message)
		assert.Equal(t, 2, rep.Models)
	})
}

// TestIsolatedSameFindings: the report is the same whether the policies
// and models are evaluated in-process or in workers.
func TestIsolatedSameFindings(t *testing.T) {
	gen := t.TempDir()
	_, err := invgen.Write(gen, 40)
	require.NoError(t, err)
	writePolicies(t, gen, map[string]string{
		"teams.cue":  teams,
		"broken.cue": "package policy\nrules: x: severity: \"loud\"\n",
		"z-dup.cue":  "package policy\nrules: \"owners-are-teams\": {model: _}\n",
		"eval.cue":   "package policy\nrules: \"bad-deny\": {model: _, deny: [model.card.nope]}\n",
		"warn.cue":   "package policy\nrules: \"few-owners\": {severity: \"warning\", model: _, deny: [if len(model.card.owners) < 3 {\"card.owners: want three\"}]}\n",
	})
	iso := testIsolation(t, inventory.Budget{Time: time.Minute, Memory: 1 << 30})
	for name, dir := range map[string]string{"quickstart": quickstart, "generated": gen} {
		t.Run(name, func(t *testing.T) {
			want := isolatedReport(t, dir, nil)
			got := isolatedReport(t, dir, iso)
			assert.Equal(t, want, got)
			if name == "generated" {
				assert.Greater(t, len(got.Findings), 80)
			}
		})
	}
}
