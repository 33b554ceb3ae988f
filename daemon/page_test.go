package daemon

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/gittest"
	"github.com/cairnops/cairn/internal/invgen"
	"github.com/cairnops/cairn/reconciler"
)

var modelLink = regexp.MustCompile(`<th scope="row"><a href="models/([a-z0-9-]+)">`)

// listed returns the models the index page lists, in order.
func listed(page string) []string {
	var out []string
	for _, m := range modelLink.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestIndexSearchAndFilters: q searches name, title, description and
// owners case-insensitively; stage, risk and state filter; the form keeps
// what was asked.
func TestIndexSearchAndFilters(t *testing.T) {
	r, _ := startQuickstart(t)
	all := []string{"churn-predictor", "demand-forecast", "fraud-detector"}
	tests := []struct {
		query string
		want  []string
	}{
		{"", all},
		{"q=fraud", []string{"fraud-detector"}},
		{"q=ACME%2FGROWTH", []string{"churn-predictor"}},
		{"q=++store+demand++", []string{"demand-forecast"}},
		{"stage=production", []string{"fraud-detector"}},
		{"stage=development", []string{"churn-predictor", "demand-forecast"}},
		{"stage=nowhere", nil},
		{"risk=low", []string{"demand-forecast"}},
		{"risk=high&stage=staging", []string{"fraud-detector"}},
		{"state=ok", all},
		{"state=breach", nil},
		{"q=nothing-like-this", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			page := r.get(t, "/?"+tt.query, http.StatusOK)
			assert.Equal(t, tt.want, listed(page))
			if tt.want == nil {
				assert.Contains(t, page, "No model matches (3 in all).")
			}
		})
	}
	page := r.get(t, "/?risk=high&stage=staging&q=card", http.StatusOK)
	assert.Contains(t, page, `<option selected>high</option>`)
	assert.Contains(t, page, `<option selected>staging</option>`)
	assert.Contains(t, page, `<input id="q" name="q" type="search" value="card"`)
	assert.Contains(t, page, `Models 1–1 of 1 matching (3 in all), page 1 of 1.`)
	for _, id := range []string{"q", "stage", "risk", "state", "per"} {
		assert.Contains(t, page, `<label for="`+id+`">`, "form field %s has a label", id)
	}
	assert.Contains(t, page, `<meta http-equiv="refresh" content="30">`)
	assert.NotContains(t, page, "<script")
}

// TestIndexPaging: pages of per models (default 50, at most 500), the page
// clamped to those there are, links to the neighbours that keep the
// filters, and no query string that breaks the page.
func TestIndexPaging(t *testing.T) {
	dir := t.TempDir()
	names, err := invgen.Write(dir, 120)
	require.NoError(t, err)
	r := start(t, Options{Repo: dir, StateDir: t.TempDir(), Interval: time.Hour, DriftInterval: time.Hour})
	r.waitStatus(t, "the work tree applied", func(s Status) bool { return s.AppliedRevision != "" })

	tests := []struct {
		query      string
		first      string
		n          int
		count      string
		prev, next string
	}{
		{"", names[0], 50, "Models 1–50 of 120, page 1 of 3.", "", "?page=2"},
		{"page=2", names[50], 50, "Models 51–100 of 120, page 2 of 3.", "./", "?page=3"},
		{"page=3", names[100], 20, "Models 101–120 of 120, page 3 of 3.", "?page=2", ""},
		{"page=99", names[100], 20, "page 3 of 3.", "?page=2", ""},
		{"page=0", names[0], 50, "page 1 of 3.", "", "?page=2"},
		{"page=-7", names[0], 50, "page 1 of 3.", "", "?page=2"},
		{"page=abc", names[0], 50, "page 1 of 3.", "", "?page=2"},
		{"page=99999999999999999999999", names[100], 20, "page 3 of 3.", "?page=2", ""},
		{"per=7&page=2", names[7], 7, "Models 8–14 of 120, page 2 of 18.", "?per=7", "?page=3&amp;per=7"},
		{"per=0", names[0], 50, "page 1 of 3.", "", "?page=2"},
		{"per=100000", names[0], 50, "page 1 of 3.", "", "?page=2"},
		{"per=500", names[0], 120, "Models 1–120 of 120, page 1 of 1.", "", ""},
		{"q=model-0001&per=5&page=2", names[15], 5, "Models 6–10 of 10 matching (120 in all), page 2 of 2.", "?per=5&amp;q=model-0001", ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			page := r.get(t, "/?"+tt.query, http.StatusOK)
			got := listed(page)
			require.Len(t, got, tt.n)
			assert.Equal(t, tt.first, got[0])
			assert.Contains(t, page, tt.count)
			if tt.prev == "" {
				assert.NotContains(t, page, `rel="prev"`)
			} else {
				assert.Contains(t, page, `<a href="`+tt.prev+`" rel="prev">`)
			}
			if tt.next == "" {
				assert.NotContains(t, page, `rel="next"`)
			} else {
				assert.Contains(t, page, `<a href="`+tt.next+`" rel="next">`)
			}
		})
	}
	for _, q := range []string{"%zz", "page=%00", "q=%ff%fe", "state=%3Cscript%3E", "per=-1&page=-1", "q=" + strings.Repeat("a", 10000),
		"stage[]=x&stage=y", "q=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E", ";;;&&&==="} {
		page := r.get(t, "/?"+q, http.StatusOK)
		assert.NotContains(t, page, "<script", q)
	}
}

// TestModelPage: /models/NAME shows the card, versions with metrics and
// lineage, pins per target, monitors, history and signatures.
func TestModelPage(t *testing.T) {
	r, _ := startQuickstart(t)
	page := r.get(t, "/models/fraud-detector", http.StatusOK)
	for _, want := range []string{
		`<h1><code>fraud-detector</code> — Card-not-present fraud detector</h1>`,
		`<dd id="description">Gradient-boosted trees over transaction`,
		`<dt>Intended use</dt><dd>Rank card-not-present transactions`,
		`<dt>Out of scope</dt><dd>Declining a payment without human review<br>`,
		`<dt>Limitations</dt><dd>Recall drops for merchants`,
		`<dt>License</dt><dd>proprietary</dd>`,
		`<td>training</td><td><code>s3://acme-ml-data/fraud/transactions-2026q2.parquet</code></td><td><code>sha256:7d1a54127b222502f5b79b5fb0803061152a44f92b37e23c6527baf665d4da9a</code></td><td><strong>yes</strong></td>`,
		`<td>input</td><th scope="row"><code>device_risk</code></th><td>float32</td><td>score from the device-fingerprint service</td>`,
		`<td>output</td><th scope="row"><code>fraud_probability</code></th>`,
		`<th scope="row"><code>2.3.0</code></th><td>staging, production</td>`,
		`auc = 0.952<br>`,
		`code <code>https://github.com/acme/fraud-model</code> @ <code>9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b</code>`,
		`<th scope="row">prod-local</th><td>production</td><td><code>2.3.0</code></td>`,
		`<th scope="row">auc</th><td>production</td><td><code>avg_over_time(fraud_detector_auc[1h])</code></td><td>value ≥ 0.9</td><td>30m</td><td>rollback</td>`,
		`<td>staging, production</td><td>ok</td><td class="wrap">key:`,
		`No history: the inventory is not in a git repository.`,
		`<a href="../">All models</a>`,
		`<meta http-equiv="refresh" content="30">`,
	} {
		assert.Contains(t, page, want)
	}
	// Versions newest first.
	assert.Less(t, strings.Index(page, "<code>2.3.0</code></th><td>staging"), strings.Index(page, "<code>2.2.0</code></th>"))
	assert.NotContains(t, page, "<script")
}

// TestModelNotFound: an unknown model, or a name that is no model name, is
// a 404 page that escapes the name.
func TestModelNotFound(t *testing.T) {
	r, _ := startQuickstart(t)
	for _, name := range []string{"nope", "FRAUD-DETECTOR", url.PathEscape("<script>alert(1)</script>"), "%2e%2e", "fraud-detector%2F.."} {
		page := r.get(t, "/models/"+name, http.StatusNotFound)
		assert.Contains(t, page, "<h1>No model <code>", name)
		assert.NotContains(t, page, "<script", name)
	}
	page := r.get(t, "/models/"+url.PathEscape("<script>alert(1)</script>"), http.StatusNotFound)
	assert.Contains(t, page, "<h1>No model <code>&lt;script&gt;alert(1)&lt;/script&gt;</code></h1>")
	r.get(t, "/models/", http.StatusNotFound)
	r.get(t, "/models/fraud-detector/extra", http.StatusNotFound)
}

// TestHostileCardRendersInert: a card whose text carries markup renders
// it as text on the index and the model page, and a javascript: link is
// no link.
func TestHostileCardRendersInert(t *testing.T) {
	r := startHostile(t)
	for _, path := range []string{"/", "/?q=%3Cscript", "/models/churn-predictor"} {
		page := r.get(t, path, http.StatusOK)
		assert.NotContains(t, page, "<script", path)
		assert.NotContains(t, page, "<img", path)
		assert.Contains(t, page, "&lt;img src=x onerror=alert(1)&gt;", path)
	}
	page := r.get(t, "/models/churn-predictor", http.StatusOK)
	assert.Contains(t, page, `<dd id="description">&lt;script&gt;alert(&#39;card&#39;)&lt;/script&gt; `)
}

// startHostile runs a daemon on the quick start with markup in the
// churn-predictor card's title and description.
func startHostile(t *testing.T) *running {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(quickstartDir(t))))
	file := filepath.Join(dir, "models", "churn-predictor", "model.cue")
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	src := string(b)
	for _, rep := range [][2]string{
		{`title:       "Subscriber churn predictor"`, `title:       "Churn \"><img src=x onerror=alert(1)>"`},
		{`description: "`, `description: "<script>alert('card')</script> `},
	} {
		require.Contains(t, src, rep[0])
		src = strings.Replace(src, rep[0], rep[1], 1)
	}
	require.NoError(t, os.WriteFile(file, []byte(src), 0o644))
	r := start(t, Options{Repo: dir, StateDir: t.TempDir(), Interval: time.Hour, DriftInterval: time.Hour})
	r.waitStatus(t, "the work tree applied", func(s Status) bool { return s.AppliedRevision != "" })
	return r
}

// TestModelPageHistory: with a git remote, the model page lists who moved
// which stage when and through which pull request, newest first, read from
// git once per revision.
func TestModelPageHistory(t *testing.T) {
	remote := gittest.NewRemote(t)
	remote.Seed(t, "main", quickstartFiles(t), "quick start")
	promo := remote.Seed(t, "main", map[string]string{"models/churn-predictor/model.cue": churn(t, "1.5.0")}, "Promote churn-predictor 1.5.0 to staging (#12)")
	r := start(t, Options{Repo: remote.URL, StateDir: t.TempDir(), Interval: time.Hour, DriftInterval: time.Hour, WebhookSecret: secret})
	r.waitStatus(t, "the promotion applied", func(s Status) bool { return s.AppliedRevision == promo })

	page := r.get(t, "/models/churn-predictor", http.StatusOK)
	hist := section(t, page, `<table id="history">`, `</table>`)
	rows := strings.Split(hist, "<tr>")[2:]
	require.Len(t, rows, 2, hist)
	assert.Contains(t, rows[0], "<td>Test Human</td><td>staging 1.4.0→1.5.0<br></td><td>#12</td><td><code>"+promo[:12]+"</code> Promote churn-predictor 1.5.0 to staging (#12)</td>")
	assert.Contains(t, rows[1], "<td>development -→1.5.0<br>staging -→1.4.0<br></td><td><span class=\"muted\">none</span></td>")
	assert.Contains(t, rows[0], "<td>2026-01-02T03:04:05Z</td>")

	r.d.pages.mu.Lock()
	_, cached := r.d.pages.history["churn-predictor"]
	_, other := r.d.pages.history["fraud-detector"]
	r.d.pages.mu.Unlock()
	assert.True(t, cached, "the history is kept for the revision")
	assert.False(t, other, "a model nobody asked for has its history read")
	assert.Equal(t, page, r.get(t, "/models/churn-predictor", http.StatusOK))
	// The header says which revision is shown and when it was applied.
	assert.Contains(t, page, "revision <code>"+promo[:12]+"</code> · applied <code>"+promo[:12]+"</code> at ")
}

// TestModelPageMonitorsAndState: after a drift tick, a monitor that could
// not be evaluated shows as error on the model page, and the state filter
// finds its model.
func TestModelPageMonitorsAndState(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(quickstartDir(t))))
	r := start(t, Options{Repo: dir, StateDir: t.TempDir(), Interval: time.Hour, DriftInterval: 100 * time.Millisecond,
		PrometheusURL: "http://127.0.0.1:1"})
	r.waitStatus(t, "a monitor-error finding", func(s Status) bool {
		for _, f := range s.Findings {
			if f.Kind == "monitor-error" {
				return true
			}
		}
		return false
	})
	assert.Equal(t, []string{"fraud-detector"}, listed(r.get(t, "/?state=error", http.StatusOK)))
	page := r.get(t, "/models/fraud-detector", http.StatusOK)
	mons := section(t, page, `<table id="monitors">`, `</table>`)
	assert.Equal(t, 3, strings.Count(mons, `<span class="state state-error">error</span>`), mons)
	assert.Contains(t, page, `<span class="state state-error" id="state">error</span>`)
	assert.Contains(t, page, "Last evaluated 20")
	deploy := section(t, page, `<table id="deployments">`, `</table>`)
	assert.Contains(t, deploy, `<th scope="row">prod-local</th><td>production</td><td><code>2.3.0</code></td><td><code>2.3.0</code></td><td>ok</td>`)
}

// TestIndexFollowsTheAuditLog: the audit log is parsed once per change,
// so an entry appended after a page was served shows on the next one.
func TestIndexFollowsTheAuditLog(t *testing.T) {
	r, _ := startQuickstart(t)
	before := section(t, r.get(t, "/", http.StatusOK), `<table id="audit"`, `</table>`)
	assert.NotContains(t, before, "appended-model")
	require.NoError(t, reconciler.AppendAudit(r.d.opts.StateDir, nil, []reconciler.AuditEntry{{Time: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
		Revision: "worktree", Target: "dev-local", Model: "appended-model", Action: "created", To: "9.9.9", Result: "applied"}}))
	after := section(t, r.get(t, "/", http.StatusOK), `<table id="audit"`, `</table>`)
	assert.Contains(t, after, "<td>dev-local</td><td>appended-model</td><td>created</td><td> → 9.9.9</td>")
}
