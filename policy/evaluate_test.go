package policy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
)

var quickstart = filepath.Join("..", "examples", "quickstart")

var reviewNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// TestQuickstartClean runs every rule, the diff-aware ones against the
// quickstart itself, and the organisation rule: the shipped example must be
// clean, and its production model must satisfy every rule.
func TestQuickstartClean(t *testing.T) {
	ctx := context.Background()
	src, err := inventory.OpenWorktree(quickstart)
	require.NoError(t, err)
	pols, err := policy.Load(ctx, src)
	require.NoError(t, err)
	require.Empty(t, pols.Findings())
	require.Len(t, pols.Rules(), 1)
	inv, err := inventory.Load(ctx, src, inventory.Options{Visit: pols.Visit})
	require.NoError(t, err)
	base, err := inventory.Load(ctx, src, inventory.Options{})
	require.NoError(t, err)
	rep, err := policy.Evaluate(ctx, inv, policy.Options{Base: base, Now: reviewNow, Policies: pols})
	require.NoError(t, err)
	assert.Empty(t, rep.Findings)
	assert.Equal(t, 3, rep.Models)

	// fraud-detector satisfies every rule even as an error, review-due
	// included, which the quickstart turns to a warning.
	inv.Settings.Rules = nil
	rep, err = policy.Evaluate(ctx, inv, policy.Options{Base: base, Now: reviewNow, Policies: pols})
	require.NoError(t, err)
	for _, f := range rep.Findings {
		assert.NotEqual(t, "fraud-detector", f.Model, f.String())
	}
}

// TestEvaluateCancelled returns ctx's error.
func TestEvaluateCancelled(t *testing.T) {
	src, err := inventory.OpenWorktree(quickstart)
	require.NoError(t, err)
	inv, err := inventory.Load(context.Background(), src, inventory.Options{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = policy.Evaluate(ctx, inv, policy.Options{})
	assert.ErrorIs(t, err, context.Canceled)
}

// TestRulesUnique checks that every built-in rule has an id, a severity and
// a description, and that ids are unique.
func TestRulesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range policy.Rules() {
		assert.NotEmpty(t, r.ID)
		assert.Contains(t, []policy.Severity{policy.Error, policy.Warning}, r.Severity, r.ID)
		assert.NotEmpty(t, r.Description, r.ID)
		assert.False(t, seen[r.ID], "duplicate rule %s", r.ID)
		seen[r.ID] = true
	}
}

// ExampleEvaluate validates the quickstart inventory with its organisation
// rules.
func ExampleEvaluate() {
	ctx := context.Background()
	src, err := inventory.OpenWorktree(quickstart)
	if err != nil {
		fmt.Println(err)
		return
	}
	pols, err := policy.Load(ctx, src)
	if err != nil {
		fmt.Println(err)
		return
	}
	inv, err := inventory.Load(ctx, src, inventory.Options{Visit: pols.Visit})
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := policy.Evaluate(ctx, inv, policy.Options{Now: reviewNow, Policies: pols})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d models, %d errors, %d warnings\n", rep.Models, rep.Summary.Errors, rep.Summary.Warnings)
	// Output: 3 models, 0 errors, 0 warnings
}
