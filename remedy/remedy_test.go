package remedy_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/forge/githubtest"
	"github.com/cairnops/cairn/internal/gittest"
	"github.com/cairnops/cairn/internal/promtest"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/remedy"
)

const token = "ghs_R3medyT0kenValue0123456789abcdef"

// t0 is the start of the test metrics; every scenario picks its own now.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// metrics returns the OpenMetrics text of every scenario, one sample a
// minute from t0 for two hours.
func metrics() string {
	var b strings.Builder
	series := func(metric, model string, f func(minute int) float64) {
		vals := make([]float64, 121)
		for i := range vals {
			vals[i] = f(i)
		}
		b.WriteString(promtest.Series(metric, map[string]string{"model": model}, t0, time.Minute, vals...))
	}
	// fraud: below 0.9 for the first hour, then recovered.
	series("model_accuracy", "fraud", func(i int) float64 {
		if i < 60 {
			return 0.8 + float64(i%5)/100
		}
		return 0.96
	})
	// churn: fine until minute 35, then below: at minute 45 that is only 10 minutes.
	series("model_accuracy", "churn", func(i int) float64 {
		if i < 35 {
			return 0.95
		}
		return 0.7
	})
	// steady: 0.8 for the first hour, then worse, 0.7.
	series("model_accuracy", "steady", func(i int) float64 {
		if i < 60 {
			return 0.8
		}
		return 0.7
	})
	// drifty: feature drift above 0.2 all along.
	series("model_psi", "drifty", func(int) float64 { return 0.35 })
	for n := range 20 {
		series("model_accuracy", fmt.Sprintf("m%02d", n), func(i int) float64 { return 0.5 })
	}
	return b.String()
}

func modelCUE(stage, version, monitors string) string {
	return fmt.Sprintf(`package model

card: {
	title:       "Test model"
	description: "A model for remedy tests."
	owners: ["@acme/ml"]
	risk: tier: "low"
	intendedUse: "Tests."
	limitations: []
	license:   "proprietary"
	framework: "sklearn"
	data: training: [{uri: "s3://bucket/train.parquet"}]
	review: lastReviewed: "2026-01-01"
}

versions: {
	"1.0.0": artifact: {
		uri:    "https://models.example/1.0.0/model.bin"
		digest: "sha256:%s"
	}
	"1.1.0": artifact: {
		uri:    "https://models.example/1.1.0/model.bin"
		digest: "sha256:%s"
	}
}

stages: {
	staging: "1.1.0" // the newest
	%s: %q
}

monitors: {
%s
}
`, strings.Repeat("a", 64), strings.Repeat("b", 64), stage, version, monitors)
}

func accuracyMonitor(model, action string) string {
	return fmt.Sprintf(`	accuracy: {
		query:  "model_accuracy{model=\"%s\"}"
		min:    0.9
		for:    "30m"
		action: %q
		kind:   "performance"
	}`, model, action)
}

const psiMonitor = `	"feature-drift": {
		query:  "max(model_psi{model=\"drifty\"})"
		max:    0.2
		for:    "30m"
		action: "retrain"
		kind:   "drift"
	}`

// env is one inventory repository (a clone of a real smart-HTTP remote), a
// fake GitHub and a forge client.
type env struct {
	dir    string
	remote *gittest.Remote
	gh     *githubtest.Server
	fc     *forge.Client
	logs   *githubtest.LogBuffer
	out    []string // every outcome and finding line, for the leak check
}

// newEnv seeds models (name -> monitors) at production 1.0.0, then moves
// production to 1.1.0 in a second commit, and clones the remote.
func newEnv(t *testing.T, promURL string, models map[string]string, ghOpts ...githubtest.Option) *env {
	t.Helper()
	remote := gittest.NewRemote(t, gittest.WithBasicAuth("x-access-token", token))
	settings := fmt.Sprintf("package inventory\n\nsources: default: {kind: \"prometheus\", url: %q}\n\ngithub: {repository: \"acme/models\", base: \"main\"}\n", promURL)
	first := map[string]string{"inventory.cue": settings}
	second := map[string]string{}
	for name, mons := range models {
		first["models/"+name+"/model.cue"] = modelCUE("production", "1.0.0", mons)
		second["models/"+name+"/model.cue"] = modelCUE("production", "1.1.0", mons)
	}
	remote.Seed(t, "main", first, "first models")
	remote.Seed(t, "main", second, "promote 1.1.0 to production")

	dir := filepath.Join(t.TempDir(), "inventory")
	_, err := git.PlainCloneContext(t.Context(), dir, false, &git.CloneOptions{
		URL:  remote.URL,
		Auth: &githttp.BasicAuth{Username: "x-access-token", Password: token},
	})
	require.NoError(t, err)

	gh := githubtest.New(t, append([]githubtest.Option{
		githubtest.WithToken(token),
		githubtest.WithRepository("acme/models"),
		githubtest.WithBranches(remote.ReadBranches),
	}, ghOpts...)...)
	logs := &githubtest.LogBuffer{}
	fc, err := forge.New(t.Context(), forge.Options{
		APIURL: gh.URL, Token: token, Repository: "acme/models",
		Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MaxAttempts: 12, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, MaxWait: 4 * time.Millisecond,
	})
	require.NoError(t, err)
	return &env{dir: dir, remote: remote, gh: gh, fc: fc, logs: logs}
}

// run is one `cairn drift --open-prs` at now: evaluate, then remediate.
func (e *env) run(t *testing.T, now time.Time, promURL string) ([]remedy.Finding, []remedy.Outcome) {
	t.Helper()
	ctx := t.Context()
	src, err := inventory.Open(ctx, e.dir, "")
	require.NoError(t, err)
	inv, err := inventory.Load(ctx, src, inventory.Options{})
	require.NoError(t, err)
	require.Empty(t, inv.Problems)
	findings, err := remedy.Evaluate(ctx, inv, remedy.Sources(inv.Settings, promURL, nil), now, inventory.Options{})
	require.NoError(t, err)
	outs, err := remedy.Remediate(ctx, inv, e.fc, remedy.Input{Findings: findings}, remedy.Options{
		Repo:   src.Repo,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	})
	require.NoError(t, err)
	for _, f := range findings {
		e.out = append(e.out, f.String())
		if f.Err != nil {
			e.out = append(e.out, fmt.Sprintf("%+v", f.Err))
		}
		b, err := json.Marshal(f)
		require.NoError(t, err)
		e.out = append(e.out, string(b))
	}
	for _, o := range outs {
		e.out = append(e.out, o.String())
	}
	return findings, outs
}

func (e *env) assertNoLeak(t *testing.T) {
	t.Helper()
	for _, s := range e.out {
		assert.NotContains(t, s, token)
	}
	assert.NotContains(t, e.logs.String(), token)
	for _, p := range e.gh.PRs() {
		assert.NotContains(t, p.Title+p.Body, token)
	}
	for _, c := range e.gh.Comments() {
		assert.NotContains(t, c.Body, token)
	}
	for _, d := range e.gh.Dispatches() {
		assert.NotContains(t, string(d.Payload), token)
	}
}

// fileAt returns path's content at the tip of branch in the remote.
func fileAt(t *testing.T, r *gittest.Remote, branch, path string) string {
	t.Helper()
	repo, err := git.PlainOpen(r.Dir)
	require.NoError(t, err)
	ref, err := repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	require.NoError(t, err)
	c, err := repo.CommitObject(ref.Hash())
	require.NoError(t, err)
	f, err := c.File(path)
	require.NoError(t, err)
	s, err := f.Contents()
	require.NoError(t, err)
	return s
}

func kinds(fs []remedy.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind+" "+f.Model+"/"+f.Monitor)
	}
	return out
}

func actions(os []remedy.Outcome) map[string]string {
	out := map[string]string{}
	for _, o := range os {
		out[o.Branch] = o.Action
	}
	return out
}

func TestDriftPRs(t *testing.T) {
	prom := promtest.Start(t, metrics())

	t.Run("rollback lifecycle", func(t *testing.T) {
		e := newEnv(t, "http://127.0.0.1:1", map[string]string{
			"fraud": accuracyMonitor("fraud", "rollback"),
			"churn": accuracyMonitor("churn", "rollback"),
		})
		now := t0.Add(45 * time.Minute)

		// 1. Below min for longer than `for`: one rollback PR; churn, below
		// for 10 of 30 minutes, is pending until 11:06 (its first sample
		// out of bounds on the 90s query grid is 10:36) and gets nothing.
		fs, outs := e.run(t, now, prom)
		assert.Equal(t, []string{"monitor-pending churn/accuracy", "monitor-breach fraud/accuracy"}, kinds(fs))
		require.NotNil(t, fs[0].DecideAt)
		assert.Equal(t, t0.Add(66*time.Minute), *fs[0].DecideAt)
		assert.Contains(t, fs[0].Message, "since 2026-03-01T10:36:00Z, less than 30m0s; decided at 2026-03-01T11:06:00Z")
		assert.Equal(t, map[string]string{"cairn/rollback/fraud": forge.ActionCreated}, actions(outs))
		prs := e.gh.PRs()
		require.Len(t, prs, 1)
		pr := prs[0]
		assert.Equal(t, "cairn/rollback/fraud", pr.Head)
		assert.Equal(t, "main", pr.Base)
		assert.Equal(t, "Roll back fraud production to 1.0.0", pr.Title)
		assert.ElementsMatch(t, []string{"cairn", "drift"}, pr.Labels)
		for _, want := range []string{
			"model_accuracy{model=\"fraud\"}", // query
			"min 0.9",                         // bound
			"2026-03-01T10:15:00Z – 2026-03-01T10:45:00Z", // window
			"| 2026-03-01T10:45:00Z | 0.8 | below min |",  // values
			"from `1.1.0` to `1.0.0`",
		} {
			assert.Contains(t, pr.Body, want)
		}
		// The diff pins production back to 1.0.0 and changes nothing else.
		main := fileAt(t, e.remote, "main", "models/fraud/model.cue")
		head := fileAt(t, e.remote, "cairn/rollback/fraud", "models/fraud/model.cue")
		assert.Equal(t, strings.Replace(main, `production: "1.1.0"`, `production: "1.0.0"`, 1), head)
		assert.NotEqual(t, main, head)
		_, churnBranch := e.remote.Branches(t)["cairn/rollback/churn"]
		assert.False(t, churnBranch)

		// 2. Same breach again: no new PR and no write call.
		writes := e.gh.Writes()
		_, outs = e.run(t, now, prom)
		assert.Equal(t, map[string]string{"cairn/rollback/fraud": forge.ActionUnchanged}, actions(outs))
		assert.Equal(t, writes, e.gh.Writes())
		require.Len(t, e.gh.PRs(), 1)

		// The same evidence in a later window (the values cycle 0.80–0.84,
		// the margin stays max 0.84): nothing is written, and the body keeps
		// the window it was written with.
		tip := e.remote.Branches(t)["cairn/rollback/fraud"]
		writes = e.gh.Writes()
		_, outs = e.run(t, now.Add(5*time.Minute), prom)
		assert.Equal(t, map[string]string{"cairn/rollback/fraud": forge.ActionUnchanged}, actions(outs))
		prs = e.gh.PRs()
		require.Len(t, prs, 1)
		assert.Contains(t, prs[0].Body, "2026-03-01T10:45:00Z")
		assert.Equal(t, "open", prs[0].State)
		assert.Equal(t, tip, e.remote.Branches(t)["cairn/rollback/fraud"], "no push")
		assert.Equal(t, writes, e.gh.Writes())

		// Recovered: the PR is closed with a comment.
		fs, outs = e.run(t, t0.Add(110*time.Minute), prom)
		assert.Equal(t, []string{"monitor-breach churn/accuracy"}, kinds(fs)) // churn is below for 75m by now
		assert.Equal(t, remedy.ActionClosed, actions(outs)["cairn/rollback/fraud"])
		prs = e.gh.PRs()
		assert.Equal(t, "closed", prs[0].State)
		require.NotEmpty(t, e.gh.Comments())
		assert.Contains(t, e.gh.Comments()[len(e.gh.Comments())-1].Body, "no longer holds")
		e.assertNoLeak(t)
	})

	t.Run("retrain", func(t *testing.T) {
		e := newEnv(t, prom, map[string]string{"drifty": psiMonitor})
		now := t0.Add(45 * time.Minute)
		_, outs := e.run(t, now, "")
		require.Len(t, outs, 1)
		assert.Equal(t, forge.ActionCreated, outs[0].Action)
		assert.True(t, outs[0].Dispatched)
		require.Len(t, e.gh.Dispatches(), 1)
		d := e.gh.Dispatches()[0]
		assert.Equal(t, "cairn-retrain", d.EventType)
		var payload struct {
			Model, Version string
			Finding        map[string]any
		}
		require.NoError(t, json.Unmarshal(d.Payload, &payload))
		assert.Equal(t, "drifty", payload.Model)
		assert.Equal(t, "1.1.0", payload.Version)
		assert.Equal(t, "feature-drift", payload.Finding["monitor"])
		require.Len(t, e.gh.PRs(), 1)
		assert.Equal(t, "cairn/retrain/drifty", e.gh.PRs()[0].Head)
		req := fileAt(t, e.remote, "cairn/retrain/drifty", "models/drifty/"+remedy.RetrainFile)
		assert.Contains(t, req, "package request")
		assert.Contains(t, req, `monitor: "feature-drift"`)
		assert.NotContains(t, req, "window", "the values seen belong in the body, not the commit")

		// The request file does not change the model: the branch still loads.
		// (Propose built the commit in the clone's object store.)
		src, err := inventory.Open(t.Context(), e.dir, e.remote.Branches(t)["cairn/retrain/drifty"])
		require.NoError(t, err)
		inv, err := inventory.Load(t.Context(), src, inventory.Options{})
		require.NoError(t, err)
		assert.Empty(t, inv.Problems)

		// Again: no second dispatch, no write.
		writes := e.gh.Writes()
		_, outs = e.run(t, now, "")
		assert.Equal(t, forge.ActionUnchanged, outs[0].Action)
		assert.Len(t, e.gh.Dispatches(), 1)
		assert.Equal(t, writes, e.gh.Writes())
		e.assertNoLeak(t)
	})

	t.Run("prometheus down", func(t *testing.T) {
		down := httptest.NewServer(nil)
		downURL := down.URL
		down.Close()
		e := newEnv(t, downURL, map[string]string{
			"fraud":  accuracyMonitor("fraud", "rollback"),
			"drifty": psiMonitor,
		})
		fs, outs := e.run(t, t0.Add(45*time.Minute), "")
		assert.Equal(t, []string{"monitor-error drifty/feature-drift", "monitor-error fraud/accuracy"}, kinds(fs))
		assert.Contains(t, fs[0].Message, "source default")
		assert.Empty(t, outs)
		assert.Empty(t, e.gh.PRs())
		assert.Empty(t, e.gh.Dispatches())
		assert.Zero(t, e.gh.Writes())
	})

	t.Run("prometheus down keeps open PRs", func(t *testing.T) {
		e := newEnv(t, prom, map[string]string{"fraud": accuracyMonitor("fraud", "rollback")})
		_, outs := e.run(t, t0.Add(45*time.Minute), "")
		require.Equal(t, forge.ActionCreated, outs[0].Action)
		_, outs = e.run(t, t0.Add(45*time.Minute), "http://127.0.0.1:1")
		assert.Empty(t, outs)
		assert.Equal(t, "open", e.gh.PRs()[0].State)
	})

	t.Run("notify comments on the open PR", func(t *testing.T) {
		e := newEnv(t, prom, map[string]string{"fraud": accuracyMonitor("fraud", "rollback") + `
	low: {
		query:  "model_accuracy{model=\"fraud\"}"
		max:    0.5
		for:    "30m"
		action: "notify"
	}`})
		now := t0.Add(45 * time.Minute)
		fs, outs := e.run(t, now, "")
		assert.Equal(t, []string{"monitor-breach fraud/accuracy", "monitor-breach fraud/low"}, kinds(fs))
		assert.Equal(t, map[string]string{"cairn/rollback/fraud": forge.ActionCreated}, actions(outs))
		assert.Empty(t, e.gh.Comments())
		_, outs = e.run(t, now, "")
		require.Len(t, outs, 2)
		assert.Equal(t, "commented", outs[1].Action)
		require.Len(t, e.gh.Comments(), 1)
		assert.Contains(t, e.gh.Comments()[0].Body, "Monitor `low` of **fraud** is out of bounds")
		writes := e.gh.Writes()
		e.run(t, now, "")
		assert.Equal(t, writes, e.gh.Writes())
		assert.Len(t, e.gh.Comments(), 1)
		// Minutes later the comment's table would differ, its evidence not.
		e.run(t, now.Add(3*time.Minute), "")
		assert.Equal(t, writes, e.gh.Writes())
	})

	t.Run("pin to what a target runs", func(t *testing.T) {
		e := newEnv(t, prom, map[string]string{"churn": ""})
		src, err := inventory.Open(t.Context(), e.dir, "")
		require.NoError(t, err)
		inv, err := inventory.Load(t.Context(), src, inventory.Options{})
		require.NoError(t, err)
		drift := []remedy.TargetDrift{{Target: "prod", Model: "churn", Stage: "production", Want: "1.1.0", Got: "1.0.0", Message: "deployed 1.0.0, want 1.1.0"}}
		outs, err := remedy.Remediate(t.Context(), inv, e.fc, remedy.Input{Targets: drift, TargetsObserved: true}, remedy.Options{Repo: src.Repo})
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"cairn/pin/churn": forge.ActionCreated}, actions(outs))
		head := fileAt(t, e.remote, "cairn/pin/churn", "models/churn/model.cue")
		assert.Contains(t, head, `production: "1.0.0"`)
		assert.Contains(t, e.gh.PRs()[0].Body, "| `prod` | production | `1.1.0` | `1.0.0` |")

		// Targets not observed: the PR stays open; observed and fine: closed.
		outs, err = remedy.Remediate(t.Context(), inv, e.fc, remedy.Input{}, remedy.Options{Repo: src.Repo})
		require.NoError(t, err)
		assert.Empty(t, outs)
		outs, err = remedy.Remediate(t.Context(), inv, e.fc, remedy.Input{TargetsObserved: true}, remedy.Options{Repo: src.Repo})
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"cairn/pin/churn": remedy.ActionClosed}, actions(outs))
		assert.Equal(t, "closed", e.gh.PRs()[0].State)
	})

	t.Run("30% failures, 20 findings", func(t *testing.T) {
		models := map[string]string{}
		for n := range 20 {
			name := fmt.Sprintf("m%02d", n)
			models[name] = accuracyMonitor(name, "rollback")
		}
		e := newEnv(t, prom, models, githubtest.WithFailRate(0.3, 7))
		fs, outs := e.run(t, t0.Add(45*time.Minute), "")
		require.Len(t, fs, 20)
		require.Len(t, outs, 20)
		for _, o := range outs {
			assert.NoError(t, o.Err, o.Branch)
			assert.Equal(t, forge.ActionCreated, o.Action, o.Branch)
		}
		heads := map[string]int{}
		for _, p := range e.gh.PRs() {
			heads[p.Head]++
		}
		assert.Len(t, heads, 20)
		for h, n := range heads {
			assert.Equal(t, 1, n, h)
		}
		var injected int
		for _, ev := range e.gh.Events() {
			if ev.Injected != "" {
				injected++
			}
		}
		assert.Positive(t, injected)
		t.Logf("%d requests, %d injected failures", len(e.gh.Events()), injected)
		e.assertNoLeak(t)
	})
}
