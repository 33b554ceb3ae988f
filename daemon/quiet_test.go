package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/forge/githubtest"
	"github.com/cairnops/cairn/internal/gittest"
	"github.com/cairnops/cairn/internal/promtest"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/remedy"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// constant returns n copies of v.
func constant(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestStandingBreachOnePullRequest is a daemon with a 2s drift interval
// over a real Prometheus, a real smart-HTTP remote and the stand-in
// GitHub, with deployments on (github: deployments: true): the quickstart's fraud-detector has feature drift (PSI 0.35 above
// max 0.2) for hours. Thirty drift ticks, the clock moving 2s per tick,
// open exactly one retrain pull request and never edit it. The ticks are
// called directly, as Run's ticker calls them, so that thirty of them do
// not take a minute of wall clock.
func TestStandingBreachOnePullRequest(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	from := base.Add(-3 * time.Hour)
	var om strings.Builder
	// AUC fell from 0.95 to 0.5 ten minutes ago: its hour average is below
	// min 0.9 only for the last few minutes, so the rollback is pending.
	auc := append(constant(170, 0.95), constant(70, 0.5)...)
	om.WriteString(promtest.Series("fraud_detector_auc", nil, from, time.Minute, auc...))
	om.WriteString(promtest.Series("fraud_detector_feature_psi", map[string]string{"feature": "amount"}, from, time.Minute, constant(240, 0.35)...))
	prom := promtest.Start(t, om.String())

	remote := gittest.NewRemote(t)
	files := quickstartFiles(t)
	inv := strings.Replace(files["inventory.cue"], `base: "main"}`, `base: "main", deployments: true}`, 1)
	require.NotEqual(t, files["inventory.cue"], inv)
	files["inventory.cue"] = inv
	rev := remote.Seed(t, "main", files, "quick start")
	gh := githubtest.New(t, githubtest.WithBranches(remote.ReadBranches))
	clk := &clock{t: base}
	d, err := New(Options{
		Repo: remote.URL, StateDir: t.TempDir(), Interval: time.Hour, DriftInterval: 2 * time.Second,
		Trust: exampleTrust(t), Logger: testLogger(t), PrometheusURL: prom, Now: clk.now,
		Forge: func(ctx context.Context, inv *inventory.Inventory) (*forge.Client, error) {
			return forge.New(ctx, forge.Options{APIURL: gh.URL, Token: gh.Token, Repository: gh.FullName()})
		},
	})
	require.NoError(t, err)
	ctx := t.Context()
	require.NoError(t, d.src.start(ctx, d.log))
	t.Cleanup(d.src.close)
	require.Equal(t, ResultApplied, d.reconcileOnce(ctx), d.Status().LastError)

	// The apply is recorded: one deployment per target, in_progress then
	// success.
	deps := gh.Deployments()
	require.Len(t, deps, 3)
	for _, dep := range deps {
		assert.Equal(t, rev, dep.Ref, dep.Environment)
		require.Len(t, dep.Statuses, 2, dep.Environment)
		assert.Equal(t, "in_progress", dep.Statuses[0].State)
		assert.Equal(t, "success", dep.Statuses[1].State)
	}

	d.driftTick(ctx)
	prs := gh.PRs()
	require.Len(t, prs, 1, "the first tick opens the retrain pull request")
	assert.Equal(t, remedy.Branch(remedy.BranchRetrain, "fraud-detector"), prs[0].Head)
	require.Len(t, gh.Dispatches(), 1)
	first := len(gh.Events())
	body := prs[0].Body

	for range 29 {
		clk.add(2 * time.Second)
		d.driftTick(ctx)
		s := d.Status()
		require.Len(t, s.PullRequests, 1)
		require.Equal(t, forge.ActionUnchanged, s.PullRequests[0].Action)
	}
	later := gh.Events()[first:]
	var writes, lists, other int
	for _, ev := range later {
		switch {
		case ev.Write:
			writes++
		case ev.Method == http.MethodGet && strings.HasPrefix(ev.Path, "/repos/"+gh.FullName()+"/pulls?"):
			lists++
		default:
			other++
		}
	}
	assert.Len(t, gh.PRs(), 1, "exactly one pull request")
	assert.Zero(t, writes, "no edit, comment or dispatch after the first tick")
	assert.Equal(t, 29, lists, "one list call per tick")
	assert.Zero(t, other)
	assert.Equal(t, body, gh.PRs()[0].Body)
	assert.Len(t, gh.Dispatches(), 1)
	assert.Len(t, gh.Deployments(), 3, "drift ticks record no deployment")

	// The pending rollback shows in the status and on the page with the
	// time it will be decided.
	var pending *Finding
	for _, f := range d.Status().Findings {
		if f.Kind == remedy.KindMonitorPending {
			pending = &f
		}
	}
	require.NotNil(t, pending, "a monitor-pending finding in %+v", d.Status().Findings)
	require.NotNil(t, pending.DecideAt)
	assert.True(t, pending.DecideAt.After(clk.now()), "decided at %s, after now", pending.DecideAt)
	assert.Contains(t, pending.Message, "auc: ")
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Contains(t, string(page), "<td>"+pending.DecideAt.UTC().Format(time.RFC3339)+"</td>")
	t.Logf("29 ticks with nothing new: %d requests, %d list calls, %d writes", len(later), lists, writes)
}

// TestUnreachableSourceOneLine: when the metric source cannot be reached,
// a drift run logs one line for the source, not one per monitor.
func TestUnreachableSourceOneLine(t *testing.T) {
	remote := gittest.NewRemote(t)
	first := remote.Seed(t, "main", quickstartFiles(t), "quick start")
	var logs syncLog
	r := start(t, Options{Repo: remote.URL, StateDir: t.TempDir(), Interval: time.Hour, DriftInterval: time.Hour,
		PrometheusURL: "http://127.0.0.1:1", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	r.waitStatus(t, "the first revision applied", func(s Status) bool { return s.AppliedRevision == first })
	r.d.driftTick(context.Background())
	errs := 0
	for _, f := range r.status(t).Findings {
		if f.Kind == remedy.KindMonitorError {
			errs++
		}
	}
	require.Greater(t, errs, 1, "the quick start has several monitors")
	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, `msg="metric source unreachable" source=default monitors=`+strconv.Itoa(errs)+" "), out)
	assert.NotContains(t, out, "kind=monitor-error")
}

// syncLog is a log sink safe for the daemon's goroutines.
type syncLog struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
