package policy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
)

// digestA and digestB are well-formed artifact digests.
var (
	digestA = "sha256:" + strings.Repeat("a", 64)
	digestB = "sha256:" + strings.Repeat("b", 64)
)

// cardCUE returns models/m/card.cue: a valid card of the given risk tier and
// review date, with extra lines inside the card struct from line 14 on.
// Lines: 7 risk, 12 data.training, 13 review.
func cardCUE(tier, lastReviewed string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `package model

card: {
	title:       "Model m"
	description: "A model for tests."
	owners: ["@acme/ml"]
	risk: tier: %q
	intendedUse: "Tests."
	limitations: []
	license:   "MIT"
	framework: "onnx"
	data: training: [{uri: "s3://bucket/train.parquet"}]
	review: lastReviewed: %q
`, tier, lastReviewed)
	for _, l := range extra {
		b.WriteString("\t" + l + "\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// lowCard is the card of a low-risk model reviewed shortly before reviewNow.
var lowCard = cardCUE("low", "2026-10-01")

// writeTree writes files (slash path -> content) into a new temporary
// folder and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

// withFiles returns base's files with over's on top; an empty content in
// over removes the file.
func withFiles(base, over map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == "" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// loadTree loads the inventory in files with its own organisation rules
// run on every model.
func loadTree(t *testing.T, files map[string]string) (*inventory.Inventory, *policy.Policies) {
	t.Helper()
	ctx := context.Background()
	src, err := inventory.OpenWorktree(writeTree(t, files))
	require.NoError(t, err)
	pols, err := policy.Load(ctx, src)
	require.NoError(t, err)
	inv, err := inventory.Load(ctx, src, inventory.Options{Workers: 1, Visit: pols.Visit})
	require.NoError(t, err)
	return inv, pols
}

// validate evaluates the inventory in files at reviewNow as `cairn
// validate` does: with its own rules, or, when base is not nil, against the
// base revision in base, whose rules and severities govern it when it has
// an inventory.cue (policy.Governed). It returns the report's findings as
// lines "model | file:line:col: [warning: ]message (rule)".
func validate(t *testing.T, files, base map[string]string) []string {
	t.Helper()
	rep := evaluateTree(t, files, base)
	return lines(rep.Findings)
}

func evaluateTree(t *testing.T, files, base map[string]string) *policy.Report {
	t.Helper()
	ctx := context.Background()
	opts := policy.Options{Now: reviewNow}
	var enforced *policy.Policies
	if base != nil {
		src, err := inventory.OpenWorktree(writeTree(t, base))
		require.NoError(t, err)
		b, err := inventory.Load(ctx, src, inventory.Options{})
		if err == inventory.ErrNoInventory {
			b = &inventory.Inventory{Source: src}
		} else {
			require.NoError(t, err)
		}
		opts.Base = b
		if policy.Governed(b) {
			enforced, err = policy.Load(ctx, src)
			require.NoError(t, err)
		}
	}
	src, err := inventory.OpenWorktree(writeTree(t, files))
	require.NoError(t, err)
	proposed, err := policy.Load(ctx, src)
	require.NoError(t, err)
	if enforced == nil {
		enforced = proposed
	}
	opts.Policies, opts.Proposed = enforced, proposed
	inv, err := inventory.Load(ctx, src, inventory.Options{Workers: 1, Visit: enforced.Visit})
	require.NoError(t, err)
	rep, err := policy.Evaluate(ctx, inv, opts)
	require.NoError(t, err)
	return rep
}

func lines(fs []policy.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Model+" | "+f.String())
	}
	return out
}
