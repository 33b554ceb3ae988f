package remedy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/forge/githubtest"
	"github.com/cairnops/cairn/internal/promtest"
)

// writesAndLists counts the write requests and the pull-request list calls
// among events.
func writesAndLists(events []githubtest.Event) (writes, lists int) {
	for _, ev := range events {
		if ev.Write {
			writes++
		}
		path, _, _ := strings.Cut(ev.Path, "?")
		if ev.Method == "GET" && strings.HasSuffix(path, "/pulls") {
			lists++
		}
	}
	return writes, lists
}

// TestDriftPRsQuietOverTime is `cairn drift --open-prs` run again and again
// while the clock moves, over a real Prometheus whose samples span two
// hours, a real git remote and the stand-in GitHub: the evaluation time
// advances a minute per run instead of the test sleeping. A standing breach
// writes nothing after the first run; values that get worse edit the body
// exactly once; a run with nothing new lists the pull requests once.
func TestDriftPRsQuietOverTime(t *testing.T) {
	prom := promtest.Start(t, metrics())
	e := newEnv(t, prom, map[string]string{"steady": accuracyMonitor("steady", "rollback"), "drifty": psiMonitor})

	// 10:45: steady below min 0.9 (0.8) and drifty above max 0.2 (0.35)
	// for their whole 30m windows: two pull requests.
	_, outs := e.run(t, t0.Add(45*time.Minute), "")
	require.Equal(t, map[string]string{"cairn/rollback/steady": forge.ActionCreated, "cairn/retrain/drifty": forge.ActionCreated}, actions(outs))
	tip := e.remote.Branches(t)["cairn/rollback/steady"]
	require.NotEmpty(t, tip)
	first := len(e.gh.Events())

	// 10:46 to 11:29, a run a minute: the same breach, at 0.8. From 11:00
	// the newest samples are 0.7, but the window still holds 0.8 samples,
	// so the margin (max 0.8) is what it was.
	for m := 46; m < 90; m++ {
		_, outs = e.run(t, t0.Add(time.Duration(m)*time.Minute), "")
		require.Equal(t, map[string]string{"cairn/rollback/steady": forge.ActionUnchanged, "cairn/retrain/drifty": forge.ActionUnchanged}, actions(outs), "minute %d", m)
	}
	writes, lists := writesAndLists(e.gh.Events()[first:])
	assert.Zero(t, writes, "writes after the first run")
	assert.Equal(t, 44, lists, "one pull-request list call per run for two open findings")
	assert.Equal(t, 44, len(e.gh.Events())-first, "no request but the list")
	t.Logf("44 runs with nothing new, 2 open findings: %d writes, %d requests, %d of them list calls", writes, len(e.gh.Events())-first, lists)

	// 11:30 to 11:49: the whole window is 0.7 now, worse: one edit of the
	// body, no push (the fix is the same), then nothing again.
	before := len(e.gh.Events())
	var updated int
	for m := 90; m < 110; m++ {
		_, outs = e.run(t, t0.Add(time.Duration(m)*time.Minute), "")
		for _, o := range outs {
			if o.Action == forge.ActionUpdated {
				updated++
				assert.Equal(t, "cairn/rollback/steady", o.Branch)
			}
		}
	}
	writes, _ = writesAndLists(e.gh.Events()[before:])
	assert.Equal(t, 1, updated)
	assert.Equal(t, 1, writes, "exactly one edit")
	assert.Equal(t, tip, e.remote.Branches(t)["cairn/rollback/steady"], "no push")
	prs := e.gh.PRs()
	require.Len(t, prs, 2)
	for _, p := range prs {
		if p.Head == "cairn/rollback/steady" {
			assert.Contains(t, p.Body, "last 0.7, max 0.7 over 30m")
		}
	}
	assert.Len(t, e.gh.Dispatches(), 1)
	assert.Empty(t, e.gh.Comments())
	e.assertNoLeak(t)
}
