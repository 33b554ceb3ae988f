package daemon

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/gatetest"
	"github.com/cairnops/cairn/internal/gittest"
	"github.com/cairnops/cairn/internal/treetest"
	"github.com/cairnops/cairn/reconciler"
)

var secret = []byte("It's a Secret to Everybody")

// TestWebhookAppliesPromotion is acceptance 1: a promotion pushed to a
// git http-backend remote is applied after a signed webhook, and the
// metrics carry the new revision; a forged webhook gets 401 and fetches
// nothing.
func TestWebhookAppliesPromotion(t *testing.T) {
	remote := gittest.NewRemote(t)
	first := remote.Seed(t, "main", quickstartFiles(t), "quick start")
	state := t.TempDir()
	r := start(t, Options{Repo: remote.URL, StateDir: state, Interval: time.Hour, DriftInterval: time.Hour, WebhookSecret: secret})

	r.waitStatus(t, "the first revision applied", func(s Status) bool { return s.AppliedRevision == first })
	assert.Equal(t, "1.4.0", current(t, state, "staging", "churn-predictor"))
	r.get(t, "/readyz", http.StatusOK)

	promo := remote.Seed(t, "main", map[string]string{"models/churn-predictor/model.cue": churn(t, "1.5.0")}, "promote churn-predictor 1.5.0 to staging")
	body := pushBody("main", promo)

	requests := remote.Requests()
	for _, sig := range []string{"", sign([]byte("wrong secret"), body), "sha256=00", "sha1=" + strings.TrimPrefix(sign(secret, body), "sha256=")} {
		assert.Equal(t, http.StatusUnauthorized, hook(t, r.srv.URL, "push", sig, body), "signature %q", sig)
	}
	// A forged push triggers nothing: nothing queued, nothing fetched.
	assert.Len(t, r.d.trigger, 0)
	assert.Equal(t, requests, remote.Requests(), "a forged webhook made the daemon fetch")
	assert.Equal(t, first, r.status(t).AppliedRevision)
	assert.Equal(t, "1.4.0", current(t, state, "staging", "churn-predictor"))

	assert.Equal(t, http.StatusAccepted, hook(t, r.srv.URL, "push", sign(secret, body), body))
	s := r.waitStatus(t, "the promotion applied", func(s Status) bool { return s.AppliedRevision == promo })
	assert.Empty(t, s.LastError)
	assert.Equal(t, "1.5.0", current(t, state, "staging", "churn-predictor"))
	for _, ts := range s.Targets {
		assert.Equal(t, promo, ts.LastAppliedRevision, ts.Name)
	}

	metrics := r.get(t, "/metrics", http.StatusOK)
	assert.Equal(t, `cairn_applied_revision_info{revision="`+promo+`",target="staging-local"} 1`,
		metricLine(metrics, `cairn_applied_revision_info{revision="`+promo+`",target="staging-local"}`))
	assert.Empty(t, metricLine(metrics, `cairn_applied_revision_info{revision="`+first), "the old revision is still reported")
	assert.Equal(t, `cairn_reconcile_total{result="applied"} 2`, metricLine(metrics, `cairn_reconcile_total{result="applied"}`))
	assert.Equal(t, `cairn_models{stage="staging"} 2`, metricLine(metrics, `cairn_models{stage="staging"}`))
	assert.NotEmpty(t, metricLine(metrics, "go_goroutines "))
	assert.NotEmpty(t, metricLine(metrics, "process_cpu_seconds_total "))

	audit, err := reconciler.Audit(state)
	require.NoError(t, err)
	var promoted []reconciler.AuditEntry
	for _, e := range audit {
		if e.Revision == promo && e.Action != "unchanged" {
			promoted = append(promoted, e)
		}
	}
	require.Len(t, promoted, 1)
	assert.Equal(t, "staging-local", promoted[0].Target)
	assert.Equal(t, "churn-predictor", promoted[0].Model)
	assert.Equal(t, "1.4.0", promoted[0].From)
	assert.Equal(t, "1.5.0", promoted[0].To)
}

// TestBadRevisionIsNotApplied is acceptance 2: a revision with a
// validation error leaves the targets alone and shows the error; the next
// good push applies.
func TestBadRevisionIsNotApplied(t *testing.T) {
	remote := gittest.NewRemote(t)
	first := remote.Seed(t, "main", quickstartFiles(t), "quick start")
	state := t.TempDir()
	r := start(t, Options{Repo: remote.URL, StateDir: state, Interval: time.Hour, DriftInterval: time.Hour, WebhookSecret: secret})
	r.waitStatus(t, "the first revision applied", func(s Status) bool { return s.AppliedRevision == first })

	// Staging pins a version the model does not have.
	bad := remote.Seed(t, "main", map[string]string{"models/churn-predictor/model.cue": churn(t, "9.9.9")}, "pin a version that does not exist")
	body := pushBody("main", bad)
	require.Equal(t, http.StatusAccepted, hook(t, r.srv.URL, "push", sign(secret, body), body))
	s := r.waitStatus(t, "the bad revision refused", func(s Status) bool { return s.Revision == bad && s.LastError != "" })
	assert.Equal(t, first, s.AppliedRevision)
	assert.Contains(t, s.LastError, "revision refused")
	require.NotEmpty(t, s.Findings)
	assert.Equal(t, "validation", s.Findings[0].Kind)
	assert.Equal(t, "churn-predictor", s.Findings[0].Model)
	assert.Equal(t, "1.4.0", current(t, state, "staging", "churn-predictor"))
	for _, ts := range s.Targets {
		assert.Equal(t, first, ts.LastAppliedRevision, ts.Name)
		assert.Equal(t, bad, ts.LastAttemptedRevision, ts.Name)
	}
	metrics := r.get(t, "/metrics", http.StatusOK)
	assert.Equal(t, `cairn_reconcile_total{result="refused"} 1`, metricLine(metrics, `cairn_reconcile_total{result="refused"}`))
	assert.Equal(t, `cairn_findings{kind="validation"} 1`, metricLine(metrics, `cairn_findings{kind="validation"}`))
	assert.Contains(t, r.get(t, "/", http.StatusOK), "revision refused")

	good := remote.Seed(t, "main", map[string]string{"models/churn-predictor/model.cue": churn(t, "1.5.0")}, "promote churn-predictor 1.5.0 to staging")
	body = pushBody("main", good)
	require.Equal(t, http.StatusAccepted, hook(t, r.srv.URL, "push", sign(secret, body), body))
	s = r.waitStatus(t, "the good revision applied", func(s Status) bool { return s.AppliedRevision == good })
	assert.Empty(t, s.LastError)
	assert.Empty(t, s.Findings)
	assert.Equal(t, "1.5.0", current(t, state, "staging", "churn-predictor"))
}

// TestWebhook checks the answers of POST /hooks/github and that only a
// signed push to the followed branch queues a reconcile. The daemon is not
// running, so a queued trigger stays visible.
func TestWebhook(t *testing.T) {
	d, err := New(Options{Repo: "https://example.com/acme/models.git", StateDir: t.TempDir(), WebhookSecret: secret})
	require.NoError(t, err)
	srv := httptestServer(t, d)
	push := pushBody("main", "0123456789abcdef0123456789abcdef01234567")
	other := pushBody("release", "0123456789abcdef0123456789abcdef01234567")
	tests := []struct {
		name, event, sig string
		body             []byte
		code             int
		queued           bool
	}{
		{"missing signature", "push", "", push, http.StatusUnauthorized, false},
		{"wrong secret", "push", sign([]byte("guess"), push), push, http.StatusUnauthorized, false},
		{"not hex", "push", "sha256=zz", push, http.StatusUnauthorized, false},
		{"signature of another body", "push", sign(secret, other), push, http.StatusUnauthorized, false},
		{"ping", "ping", sign(secret, []byte(`{"zen":"Keep it logically awesome."}`)), []byte(`{"zen":"Keep it logically awesome."}`), http.StatusNoContent, false},
		{"push to another branch", "push", sign(secret, other), other, http.StatusNoContent, false},
		{"bad json", "push", sign(secret, []byte("{")), []byte("{"), http.StatusBadRequest, false},
		{"push to the branch", "push", sign(secret, push), push, http.StatusAccepted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.code, hook(t, srv, tt.event, tt.sig, tt.body))
			assert.Equal(t, tt.queued, len(d.trigger) == 1)
			select {
			case <-d.trigger:
			default:
			}
		})
	}

	t.Run("no secret refuses everything", func(t *testing.T) {
		d, err := New(Options{Repo: "https://example.com/acme/models.git", StateDir: t.TempDir()})
		require.NoError(t, err)
		srv := httptestServer(t, d)
		assert.Equal(t, http.StatusUnauthorized, hook(t, srv, "push", sign(nil, push), push))
		assert.Len(t, d.trigger, 0)
	})
	t.Run("a burst collapses", func(t *testing.T) {
		for range 5 {
			assert.Equal(t, http.StatusAccepted, hook(t, srv, "push", sign(secret, push), push))
		}
		assert.Len(t, d.trigger, 1)
	})
}

// TestPageRendersQuickstart is acceptance 4 (the Go half): the page at /
// lists the quick start's models with their pins, risk tiers, owners and
// signature state, the targets and the audit entries.
func TestPageRendersQuickstart(t *testing.T) {
	r, _ := startQuickstart(t)
	page := r.get(t, "/", http.StatusOK)
	models := section(t, page, `<table id="models">`, `</table>`)
	rows := strings.Split(models, "<tr>")[2:] // header, then one row per model
	require.Len(t, rows, 3)
	for i, want := range []struct{ name, pins, risk, owners string }{
		{"churn-predictor", "development: <code>1.5.0</code><br>staging: <code>1.4.0</code>", "medium", "@acme/growth-ml"},
		{"demand-forecast", "development: <code>0.3.0</code>", "low", ""},
		{"fraud-detector", "staging: <code>2.3.0</code><br>production: <code>2.3.0</code>", "high", "@acme/fraud-ml"},
	} {
		assert.Contains(t, rows[i], "<code>"+want.name+"</code>")
		assert.Contains(t, rows[i], want.pins)
		assert.Contains(t, rows[i], "<td>"+want.risk+"</td>")
		assert.Contains(t, rows[i], want.owners)
	}
	assert.Equal(t, 1, strings.Count(rows[2], "2.3.0: verified: key:"), "one signature state per version, as the gate verified it")
	assert.Contains(t, rows[0], "1.4.0: unsigned")
	targets := section(t, page, `<table id="targets"`, `</table>`)
	for _, n := range []string{"dev-local", "staging-local", "prod-local"} {
		assert.Contains(t, targets, `<th scope="row">`+n+"</th>")
	}
	audit := section(t, page, `<table id="audit"`, `</table>`)
	assert.Equal(t, 5, strings.Count(audit, "<td>created</td>"), audit)
	assert.NotContains(t, page, "<script")
}

// TestPageScreenshot is acceptance 4 (the browser half): headless
// Chromium loads the page and writes a screenshot.
func TestPageScreenshot(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s is not installed (apt-get install chromium): %v", chromium, err)
	}
	r, _ := startQuickstart(t)
	png := filepath.Join(t.TempDir(), "page.png")
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir="+t.TempDir(), "--screenshot="+png, "--window-size=1200,900", r.srv.URL+"/")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	data, err := os.ReadFile(png)
	require.NoError(t, err, "%s", out)
	require.Greater(t, len(data), 1000)
	assert.Equal(t, "\x89PNG\r\n\x1a\n", string(data[:8]))

	// The DOM Chromium built holds the models table.
	dom, err := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--user-data-dir="+t.TempDir(), "--dump-dom", r.srv.URL+"/").Output()
	require.NoError(t, err)
	assert.Contains(t, string(dom), `<table id="models">`)
	assert.Contains(t, string(dom), "fraud-detector")
}

// startQuickstart runs a daemon on a copy of the quick start's work tree
// and waits for its first apply.
func startQuickstart(t *testing.T) (*running, string) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(quickstartDir(t))))
	state := t.TempDir()
	r := start(t, Options{Repo: dir, StateDir: state, Interval: time.Hour, DriftInterval: time.Hour})
	r.waitStatus(t, "the work tree applied", func(s Status) bool { return s.AppliedRevision != "" })
	return r, dir
}

// section returns the part of s from the first from up to the next to.
func section(t *testing.T, s, from, to string) string {
	t.Helper()
	_, rest, ok := strings.Cut(s, from)
	require.True(t, ok, "no %s in the page", from)
	out, _, ok := strings.Cut(rest, to)
	require.True(t, ok)
	return out
}

// TestLocalPathFollowsEdits: with a local path, an edit of the work tree
// (in a folder created after the start, too) is applied once the file
// events settle, and a bad edit is refused.
func TestLocalPathFollowsEdits(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(quickstartDir(t))))
	state := t.TempDir()
	r := start(t, Options{Repo: dir, StateDir: state, Interval: time.Hour, DriftInterval: time.Hour, Debounce: 50 * time.Millisecond})
	r.waitStatus(t, "the work tree applied", func(s Status) bool { return s.AppliedRevision != "" })
	require.Equal(t, "1.4.0", current(t, state, "staging", "churn-predictor"))

	bad := filepath.Join(dir, "models", "churn-predictor", "model.cue")
	require.NoError(t, os.WriteFile(bad, []byte(churn(t, "9.9.9")), 0o644))
	r.waitStatus(t, "the bad edit refused", func(s Status) bool { return strings.Contains(s.LastError, "revision refused") })
	assert.Equal(t, "1.4.0", current(t, state, "staging", "churn-predictor"))

	require.NoError(t, os.WriteFile(bad, []byte(churn(t, "1.5.0")), 0o644))
	r.waitStatus(t, "the good edit applied", func(s Status) bool { return s.LastError == "" })
	assert.Equal(t, "1.5.0", current(t, state, "staging", "churn-predictor"))

	// A model in a new folder: the watch follows new folders.
	require.NoError(t, os.CopyFS(filepath.Join(dir, "models", "demand-forecast-2"), os.DirFS(filepath.Join(quickstartDir(t), "models", "demand-forecast"))))
	deadline := time.Now().Add(wait)
	for {
		if _, err := os.Readlink(filepath.Join(state, "targets", "development", "demand-forecast-2", "current")); err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "demand-forecast-2 was never applied")
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDriftTickHealsAndEvaluatesMonitors: every DriftInterval the targets
// are observed, a heal target that drifted is re-applied, and the monitors
// are evaluated (an unreachable Prometheus is a monitor-error finding).
func TestDriftTickHealsAndEvaluatesMonitors(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(quickstartDir(t))))
	state := t.TempDir()
	r := start(t, Options{Repo: dir, StateDir: state, Interval: time.Hour, DriftInterval: 100 * time.Millisecond,
		PrometheusURL: "http://127.0.0.1:1"})
	r.waitStatus(t, "the work tree applied", func(s Status) bool { return s.AppliedRevision != "" })
	s := r.waitStatus(t, "a monitor-error finding", func(s Status) bool {
		for _, f := range s.Findings {
			if f.Kind == "monitor-error" {
				return true
			}
		}
		return false
	})
	assert.Equal(t, "fraud-detector", s.Findings[0].Model)

	link := filepath.Join(state, "targets", "production", "fraud-detector", "current")
	require.NoError(t, os.Remove(link))
	deadline := time.Now().Add(wait)
	for {
		if v, err := os.Readlink(link); err == nil {
			assert.Equal(t, "2.3.0", v)
			break
		}
		require.True(t, time.Now().Before(deadline), "the drifted target was never healed")
		time.Sleep(20 * time.Millisecond)
	}
	metrics := r.get(t, "/metrics", http.StatusOK)
	assert.NotEmpty(t, metricLine(metrics, `cairn_findings{kind="monitor-error"}`))
}

func TestMaskURL(t *testing.T) {
	const tok = "ghs_S3cretT0kenValue0123456789abcdef"
	tests := []struct{ name, in, want string }{
		{"password", "cloning https://x-access-token:" + tok + "@github.com/acme/models.git", "cloning https://***@github.com/acme/models.git"},
		{"token as user", `fetch "https://` + tok + `@github.com/acme/models.git": 401`, `fetch "https://***@github.com/acme/models.git": 401`},
		{"no credentials", "cloning https://github.com/acme/models.git", "cloning https://github.com/acme/models.git"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := maskURL(tt.in)
			assert.Equal(t, tt.want, got)
			assert.NotContains(t, got, tok)
		})
	}
}

// TestDaemonRefusesWhatTheGateRefuses runs the revisions every deploying
// path must refuse (gatetest.Breaks, the table the CLI's tests run too)
// through a daemon that follows a real git remote: each is refused with
// the gate's findings, the targets keep the last good revision, and the
// good revision after it applies.
func TestDaemonRefusesWhatTheGateRefuses(t *testing.T) {
	remote := gittest.NewRemote(t)
	files := gatetest.Quickstart(t)
	good := remote.Seed(t, "main", files, "quick start")
	state := t.TempDir()
	r := start(t, Options{Repo: remote.URL, StateDir: state, Interval: time.Hour, DriftInterval: time.Hour, WebhookSecret: secret})
	r.waitStatus(t, "the first revision applied", func(s Status) bool { return s.AppliedRevision == good })
	targets := filepath.Join(state, "targets")
	push := func(sha string) {
		body := pushBody("main", sha)
		require.Equal(t, http.StatusAccepted, hook(t, r.srv.URL, "push", sign(secret, body), body))
	}
	for _, b := range gatetest.Breaks {
		t.Run(b.Name, func(t *testing.T) {
			before := treetest.Hash(t, targets)
			change := gatetest.Merge(b.Edit(files), gatetest.Promote(files))
			bad := remote.Seed(t, "main", change, b.Name)
			push(bad)
			s := r.waitStatus(t, "the revision refused", func(s Status) bool { return s.Revision == bad && s.LastError != "" })
			assert.Equal(t, good, s.AppliedRevision)
			assert.Contains(t, s.LastError, "revision refused")
			var got []string
			for _, f := range s.Findings {
				got = append(got, f.Message+" ("+f.Rule+")")
			}
			assert.Contains(t, strings.Join(got, "\n"), strings.Trim(b.Want, "()"))
			assert.Equal(t, before, treetest.Hash(t, targets), "the targets are untouched")
			assert.Equal(t, "1.4.0", current(t, state, "staging", "churn-predictor"))

			// Put the files back: the next revision is good and applies.
			restore := map[string]string{}
			for p := range change {
				if c, ok := files[p]; ok {
					restore[p] = c
				} else {
					restore[p] = gittest.Deleted
				}
			}
			good = remote.Seed(t, "main", restore, "revert "+b.Name)
			push(good)
			r.waitStatus(t, "the good revision applied", func(s Status) bool { return s.AppliedRevision == good })
			assert.Equal(t, "1.4.0", current(t, state, "staging", "churn-predictor"), "the promotion never deployed")
		})
	}
}
