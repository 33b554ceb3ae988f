package forge_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/forge"
)

// TestProposeEvidence: with Evidence, a body that changes only with the
// clock writes nothing; new evidence edits the body once, without a push.
// Listed proposals take the open pull request from the caller and list
// nothing themselves.
func TestProposeEvidence(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := proposal("cairn/rollback/fraud", "window 10:15–10:45")
	p.Evidence = "fraud accuracy max 0.8"
	out, err := e.propose(t, p)
	require.NoError(t, err)
	require.Equal(t, forge.ActionCreated, out.Action)
	tip := e.remote.Branches(t)["cairn/rollback/fraud"]

	listed := func(p forge.Proposal) forge.Proposal {
		open, err := e.client.OpenPRs(ctx, "cairn/")
		require.NoError(t, err)
		require.Len(t, open, 1)
		p.Listed, p.Open = true, &open[0]
		return p
	}
	countSince := func(from int) (writes, lists int) {
		for _, ev := range e.gh.Events()[from:] {
			path, _, _ := strings.Cut(ev.Path, "?")
			switch {
			case ev.Write:
				writes++
			case ev.Method == http.MethodGet && strings.HasSuffix(path, "/pulls"):
				lists++
			}
		}
		return writes, lists
	}

	// A minute later: another window in the body, the same evidence.
	from := len(e.gh.Events())
	later := listed(p)
	later.Body = "window 10:16–10:46"
	out, err = e.propose(t, later)
	require.NoError(t, err)
	assert.Equal(t, forge.ActionUnchanged, out.Action)
	writes, lists := countSince(from)
	assert.Zero(t, writes)
	assert.Equal(t, 1, lists, "the caller's OpenPRs only")
	assert.Contains(t, e.gh.PRs()[0].Body, "window 10:15–10:45", "the body keeps its window")

	// Worse: new evidence, one edit of the body, the branch stays.
	from = len(e.gh.Events())
	worse := listed(p)
	worse.Body, worse.Evidence = "window 10:50–11:20, max 0.7", "fraud accuracy max 0.7"
	out, err = e.propose(t, worse)
	require.NoError(t, err)
	assert.Equal(t, forge.ActionUpdated, out.Action)
	writes, _ = countSince(from)
	assert.Equal(t, 1, writes)
	assert.Equal(t, tip, e.remote.Branches(t)["cairn/rollback/fraud"])
	assert.Contains(t, e.gh.PRs()[0].Body, "max 0.7")

	// Listed with none open: created without a list call of its own.
	from = len(e.gh.Events())
	other := proposal("cairn/rollback/churn", "b")
	other.Files = map[string][]byte{"models/churn/model.cue": []byte("package model\n// pinned\n")}
	other.Listed = true
	out, err = e.propose(t, other)
	require.NoError(t, err)
	assert.Equal(t, forge.ActionCreated, out.Action)
	_, lists = countSince(from)
	assert.Zero(t, lists)
	e.assertNoLeak(t)
}
