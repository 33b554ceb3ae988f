package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/cairnops/cairn/internal/gittest"
	"github.com/cairnops/cairn/internal/promtest"
)

const chromium = "/usr/bin/chromium"

// needChromium skips the test without Debian's chromium.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s is not installed (apt-get install chromium): %v", chromium, err)
	}
}

// dumpDOM returns the DOM headless Chromium built from url, parsed.
func dumpDOM(t *testing.T, url string) *html.Node {
	t.Helper()
	out, err := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--user-data-dir="+t.TempDir(), "--dump-dom", url).Output()
	require.NoError(t, err)
	doc, err := html.Parse(strings.NewReader(string(out)))
	require.NoError(t, err)
	return doc
}

// screenshot writes a PNG of url, width×height, to file.
func screenshot(t *testing.T, url, file string, width, height int) {
	t.Helper()
	out, err := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir="+t.TempDir(), "--screenshot="+file, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height), url).CombinedOutput()
	require.NoError(t, err, "%s", out)
	data, err := os.ReadFile(file)
	require.NoError(t, err, "%s", out)
	require.Greater(t, len(data), 1000)
	assert.Equal(t, "\x89PNG\r\n\x1a\n", string(data[:8]))
}

// find returns every element of n's subtree that match.
func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && match(d) {
			out = append(out, d)
		}
	}
	return out
}

func byAtom(a atom.Atom) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.DataAtom == a }
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func byID(doc *html.Node, id string) *html.Node {
	ns := find(doc, func(n *html.Node) bool { return attr(n, "id") == id })
	if len(ns) != 1 {
		return nil
	}
	return ns[0]
}

func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		switch {
		case d.Type == html.TextNode:
			b.WriteString(d.Data)
		case d.DataAtom == atom.Br:
			b.WriteString(" ")
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// checkAccessible asserts what every page needs: one main landmark, one
// h1, header cells with a scope, a label for every form field, no script.
func checkAccessible(t *testing.T, doc *html.Node) {
	t.Helper()
	assert.Len(t, find(doc, byAtom(atom.Main)), 1, "one main landmark")
	assert.Len(t, find(doc, byAtom(atom.Header)), 1, "one header landmark")
	assert.Len(t, find(doc, byAtom(atom.H1)), 1, "one h1")
	assert.Equal(t, "en", attr(find(doc, byAtom(atom.Html))[0], "lang"))
	for _, th := range find(doc, byAtom(atom.Th)) {
		assert.Contains(t, []string{"col", "row"}, attr(th, "scope"), "th %q has a scope", text(th))
	}
	labels := map[string]bool{}
	for _, l := range find(doc, byAtom(atom.Label)) {
		labels[attr(l, "for")] = true
	}
	for _, f := range find(doc, func(n *html.Node) bool { return n.DataAtom == atom.Input || n.DataAtom == atom.Select }) {
		assert.True(t, labels[attr(f, "id")], "field %q has a label", attr(f, "name"))
	}
	assert.Empty(t, find(doc, byAtom(atom.Script)), "no script element")
}

// TestPageBrowser is acceptance 2 on the quick start: headless Chromium
// loads the index and a model page; the DOM it built is checked, and each
// page is screenshot. CAIRN_SCREENSHOTS=DIR keeps the screenshots there
// (docs/ holds the ones the README shows).
func TestPageBrowser(t *testing.T) {
	needChromium(t)
	// A real Prometheus: fraud-detector's AUC fell ten minutes ago (its
	// rollback is pending), its feature drift is out of bounds for hours (a
	// breach), and there is no latency series.
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	from := base.Add(-3 * time.Hour)
	var om strings.Builder
	om.WriteString(promtest.Series("fraud_detector_auc", nil, from, time.Minute, append(constant(170, 0.95), constant(70, 0.5)...)...))
	om.WriteString(promtest.Series("fraud_detector_feature_psi", map[string]string{"feature": "amount"}, from, time.Minute, constant(240, 0.35)...))
	prom := promtest.Start(t, om.String())

	remote := gittest.NewRemote(t)
	remote.Seed(t, "main", quickstartFiles(t), "quick start")
	promo := remote.Seed(t, "main", map[string]string{"models/churn-predictor/model.cue": churn(t, "1.5.0")}, "Promote churn-predictor 1.5.0 to staging (#12)")
	r := start(t, Options{Repo: remote.URL, StateDir: t.TempDir(), Interval: time.Hour, DriftInterval: 200 * time.Millisecond,
		WebhookSecret: secret, PrometheusURL: prom, Now: func() time.Time { return base }})
	r.waitStatus(t, "the promotion applied and the monitors evaluated", func(s Status) bool {
		for _, f := range s.Findings {
			if f.Kind == "monitor-breach" {
				return s.AppliedRevision == promo
			}
		}
		return false
	})

	index := dumpDOM(t, r.srv.URL+"/")
	checkAccessible(t, index)
	models := byID(index, "models")
	require.NotNil(t, models)
	var names []string
	for _, row := range find(models, byAtom(atom.Tr))[1:] {
		th := find(row, byAtom(atom.Th))
		require.Len(t, th, 1)
		a := find(th[0], byAtom(atom.A))
		require.Len(t, a, 1)
		assert.Equal(t, "models/"+text(a[0]), attr(a[0], "href"))
		names = append(names, text(a[0]))
	}
	assert.Equal(t, []string{"churn-predictor", "demand-forecast", "fraud-detector"}, names)
	assert.Equal(t, "Models 1–3 of 3, page 1 of 1.", text(byID(index, "count")))
	forms := find(index, byAtom(atom.Form))
	require.Len(t, forms, 1)
	assert.Equal(t, "get", attr(forms[0], "method"))
	assert.Equal(t, "search", attr(forms[0], "role"))

	doc := dumpDOM(t, r.srv.URL+"/models/churn-predictor")
	checkAccessible(t, doc)
	assert.Equal(t, "churn-predictor — Subscriber churn predictor", text(find(doc, byAtom(atom.H1))[0]))
	assert.Equal(t, "Logistic regression over 90 days of usage and billing events; predicts churn within the next 30 days.", text(byID(doc, "description")))
	for _, id := range []string{"datasets", "versions", "deployments", "monitors", "history", "signatures"} {
		tbl := byID(doc, id)
		require.NotNil(t, tbl, id)
		assert.Greater(t, len(find(tbl, byAtom(atom.Tr))), 1, "table %s has rows", id)
	}
	hist := find(byID(doc, "history"), byAtom(atom.Tr))
	var cells []string
	for _, c := range find(hist[1], byAtom(atom.Td)) {
		cells = append(cells, text(c))
	}
	require.Len(t, cells, 5)
	assert.Equal(t, []string{"2026-01-02T03:04:05Z", "Test Human", "staging 1.4.0→1.5.0", "#12"}, cells[:4])
	back := find(doc, func(n *html.Node) bool { return n.DataAtom == atom.A && text(n) == "All models" })
	require.Len(t, back, 1)
	assert.Equal(t, "../", attr(back[0], "href"))

	// fraud-detector: observed on its targets, its monitors in three states.
	doc = dumpDOM(t, r.srv.URL+"/models/fraud-detector")
	checkAccessible(t, doc)
	assert.Equal(t, "breach", text(byID(doc, "state")))
	states := map[string][]string{}
	for _, row := range find(byID(doc, "monitors"), byAtom(atom.Tr))[1:] {
		var cells []string
		for _, c := range find(row, byAtom(atom.Td)) {
			cells = append(cells, text(c))
		}
		states[text(find(row, byAtom(atom.Th))[0])] = cells
	}
	require.Len(t, states, 3)
	assert.True(t, strings.HasPrefix(states["auc"][5], "pending decides at 2026-03-01T12:27:00Z "), states["auc"][5])
	assert.True(t, strings.HasPrefix(states["feature-drift"][5], "breach "), states["feature-drift"][5])
	assert.Equal(t, "last 0.35, min 0.35 over 1h", states["feature-drift"][6])
	for _, row := range find(byID(doc, "deployments"), byAtom(atom.Tr))[1:] {
		var cells []string
		for _, c := range find(row, byAtom(atom.Td)) {
			cells = append(cells, text(c))
		}
		assert.Equal(t, []string{"2.3.0", "2.3.0", "ok"}, cells[1:], "pinned, observed, health")
	}

	dir := os.Getenv("CAIRN_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	screenshot(t, r.srv.URL+"/", filepath.Join(dir, "page-index.png"), 1100, 760)
	screenshot(t, r.srv.URL+"/models/fraud-detector", filepath.Join(dir, "page-model.png"), 1100, 2700)
}

// TestHostileCardInertInBrowser: the DOM Chromium builds from a card with
// markup in it holds no script or img element, only the text.
func TestHostileCardInertInBrowser(t *testing.T) {
	needChromium(t)
	r := startHostile(t)
	for _, path := range []string{"/", "/models/churn-predictor"} {
		doc := dumpDOM(t, r.srv.URL+path)
		assert.Empty(t, find(doc, byAtom(atom.Script)), path)
		assert.Empty(t, find(doc, byAtom(atom.Img)), path)
	}
	doc := dumpDOM(t, r.srv.URL+"/models/churn-predictor")
	assert.True(t, strings.HasPrefix(text(byID(doc, "description")), "<script>alert('card')</script> "), text(byID(doc, "description")))
}
