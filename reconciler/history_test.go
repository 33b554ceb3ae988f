package reconciler_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
)

func TestHistory(t *testing.T) {
	ctx := context.Background()
	dir := quickstart(t)
	repo := gitInit(t, dir)
	edit(t, dir, "models/churn-predictor/model.cue", `staging:     "1.4.0"`, `staging:     "1.5.0"`)
	c2 := commit(t, repo, "Bob Builder", "promote churn-predictor 1.5.0 to staging", now.Add(-48*time.Hour))
	// A change that does not touch the lifecycle is not listed.
	edit(t, dir, "models/churn-predictor/model.cue", `title:`, `title: "Churn" + `)
	edit(t, dir, "models/demand-forecast/model.cue", `stages: development: "0.3.0"`, `retired: true`)
	commit(t, repo, "Dan Editor", "retitle churn and retire demand-forecast", now.Add(-36*time.Hour))
	edit(t, dir, "models/churn-predictor/model.cue", `staging:     "1.5.0"`, `staging:     "1.5.0"
	production:  "1.5.0"`)
	edit(t, dir, "models/churn-predictor/model.cue", `development: "1.5.0"`, ``)
	c4 := commit(t, repo, "Carol Danvers", "promote churn-predictor 1.5.0 to production\n\nReviewed by the risk team.", now.Add(-24*time.Hour))

	src, err := inventory.OpenWorktree(dir)
	require.NoError(t, err)
	h, err := reconciler.History(ctx, src, "churn-predictor", inventory.Options{})
	require.NoError(t, err)
	require.Len(t, h, 3)
	assert.Equal(t, "Ada Lovelace", h[0].Author)
	assert.Equal(t, "initial inventory", h[0].Subject)
	assert.Equal(t, []reconciler.StageChange{{Stage: "development", To: "1.5.0"}, {Stage: "staging", To: "1.4.0"}}, h[0].Changes)
	assert.Equal(t, reconciler.HistoryEntry{Commit: c2, Author: "Bob Builder", Email: "bob@example.com",
		Date: h[1].Date, Subject: "promote churn-predictor 1.5.0 to staging",
		Changes: []reconciler.StageChange{{Stage: "staging", From: "1.4.0", To: "1.5.0"}}}, h[1])
	assert.True(t, now.Add(-48*time.Hour).Equal(h[1].Date), h[1].Date)
	assert.Equal(t, c4, h[2].Commit)
	assert.Equal(t, "Carol Danvers", h[2].Author)
	assert.Equal(t, "promote churn-predictor 1.5.0 to production", h[2].Subject)
	assert.Equal(t, "development 1.5.0→-", h[2].Changes[0].String())
	assert.Equal(t, []reconciler.StageChange{{Stage: "development", From: "1.5.0"}, {Stage: "production", To: "1.5.0"}}, h[2].Changes)

	d, err := reconciler.History(ctx, src, "demand-forecast", inventory.Options{})
	require.NoError(t, err)
	require.Len(t, d, 2)
	require.NotNil(t, d[1].Retired)
	assert.True(t, *d[1].Retired)
	assert.Equal(t, []reconciler.StageChange{{Stage: "development", From: "0.3.0"}}, d[1].Changes)

	// From an older revision, later commits are not seen.
	old, err := inventory.Open(ctx, dir, c2)
	require.NoError(t, err)
	h, err = reconciler.History(ctx, old, "churn-predictor", inventory.Options{})
	require.NoError(t, err)
	assert.Len(t, h, 2)

	noGit, err := inventory.OpenWorktree(quickstart(t))
	require.NoError(t, err)
	_, err = reconciler.History(ctx, noGit, "churn-predictor", inventory.Options{})
	assert.ErrorIs(t, err, reconciler.ErrNoHistory)
}
