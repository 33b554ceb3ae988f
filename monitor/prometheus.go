package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	// minStep is the finest resolution Evaluate asks for.
	minStep = 15 * time.Second
	// stepsPerWindow is how many steps Evaluate splits a window into.
	stepsPerWindow = 20
	// maxResponse bounds the bytes read from one query answer.
	maxResponse = 64 << 20
)

// Prometheus is a metric source over the Prometheus HTTP API
// (/api/v1/query_range). URL is the server's base URL, with any path prefix
// (e.g. http://prometheus:9090 or https://host/prometheus). Client is the
// HTTP client to use; nil means http.DefaultClient.
type Prometheus struct {
	URL    string
	Client *http.Client
}

// Evaluate decides statelessly whether m is breached at now. It runs
// query_range over [now-m.For, now] with a step of m.For/20 (at least 15s,
// whole seconds). A series is breached only if every sample in the window is
// out of bounds (below Min or above Max; NaN counts as in bounds) and the
// window is covered: samples exist from its start to its end, allowing one
// missing step at the start, at the end and between samples. With several
// series, m is breached if any series is; the Result reports the first
// breaching series (or the first series) in label order.
//
// An invalid monitor (no query, no bounds, For not positive, Min above Max)
// is a plain error. An unreachable source, an HTTP error, a Prometheus error
// answer or a query without data is a *SourceError; the Result is then zero.
func (p *Prometheus) Evaluate(ctx context.Context, m Monitor, now time.Time) (Result, error) {
	if err := check(m); err != nil {
		return Result{}, fmt.Errorf("monitor %s/%s: %w", m.Model, m.Name, err)
	}
	step := max((m.For / stepsPerWindow).Truncate(time.Second), minStep)
	start := now.Add(-m.For)
	all, err := p.queryRange(ctx, m.Query, start, now, step)
	if err != nil {
		return Result{}, &SourceError{Source: m.Source, Query: m.Query, Err: err}
	}
	if len(all) == 0 {
		return Result{}, &SourceError{Source: m.Source, Query: m.Query, Err: ErrNoData}
	}

	r := Result{
		Monitor:     m,
		Window:      [2]time.Time{start, now},
		Step:        step,
		SeriesCount: len(all),
		Bound:       bound(m),
	}
	report := all[0]
	reportCovered := covered(all[0].samples, start, now, step)
	for _, s := range all {
		c := covered(s.samples, start, now, step)
		if c && allOut(m, s.samples) {
			if !r.Breached {
				report, reportCovered = s, c
			}
			r.Breached = true
			r.Breaching = append(r.Breaching, s.labels)
		}
	}
	if !r.Breached {
		// Not decided yet: a series out of bounds at the end of the window
		// since an instant inside it.
		for _, s := range all {
			since, ok := pendingRun(m, s.samples, start, now, step)
			if ok && (!r.Pending || since.Before(r.PendingSince)) {
				r.Pending, r.PendingSince = true, since
				report, reportCovered = s, covered(s.samples, start, now, step)
			}
		}
		if r.Pending {
			r.DecideAt = r.PendingSince.Add(m.For)
		}
	}
	r.Covered = reportCovered
	r.Samples = report.samples
	r.Series = report.labels
	r.Observed = observed(m, report.samples, r.Covered)
	return r, nil
}

func check(m Monitor) error {
	switch {
	case strings.TrimSpace(m.Query) == "":
		return errors.New("empty query")
	case m.Min == nil && m.Max == nil:
		return errors.New("neither min nor max is set")
	case m.Min != nil && m.Max != nil && *m.Min > *m.Max:
		return fmt.Errorf("min %s is above max %s", num(*m.Min), num(*m.Max))
	case m.For <= 0:
		return fmt.Errorf("for %s is not positive", m.For)
	}
	return nil
}

// outOfBounds reports whether v is below m.Min or above m.Max.
func outOfBounds(m Monitor, v float64) bool {
	return (m.Min != nil && v < *m.Min) || (m.Max != nil && v > *m.Max)
}

func allOut(m Monitor, samples []Sample) bool {
	for _, s := range samples {
		if !outOfBounds(m, s.Value) {
			return false
		}
	}
	return len(samples) > 0
}

// covered reports whether samples span [start, end] evaluated every step,
// missing at most one evaluation point at the start, at the end and between
// two samples.
func covered(samples []Sample, start, end time.Time, step time.Duration) bool {
	if len(samples) == 0 {
		return false
	}
	tol := step / 4 // timestamps travel as seconds with millisecond precision
	lastPoint := start.Add(end.Sub(start) / step * step)
	if samples[0].Time.After(start.Add(step+tol)) || samples[len(samples)-1].Time.Before(lastPoint.Add(-step-tol)) {
		return false
	}
	for i := 1; i < len(samples); i++ {
		if samples[i].Time.Sub(samples[i-1].Time) > 2*step+tol {
			return false
		}
	}
	return true
}

// pendingRun returns the start of the trailing run of out-of-bounds samples
// when it reaches the end of [start, end] (as covered allows) and began
// after the window's start; ok is false otherwise.
func pendingRun(m Monitor, samples []Sample, start, end time.Time, step time.Duration) (since time.Time, ok bool) {
	n := len(samples)
	if n == 0 {
		return time.Time{}, false
	}
	tol := step / 4
	lastPoint := start.Add(end.Sub(start) / step * step)
	if samples[n-1].Time.Before(lastPoint.Add(-step-tol)) || !outOfBounds(m, samples[n-1].Value) {
		return time.Time{}, false
	}
	k := n - 1
	for k > 0 && outOfBounds(m, samples[k-1].Value) && samples[k].Time.Sub(samples[k-1].Time) <= 2*step+tol {
		k--
	}
	since = samples[k].Time
	if !since.After(start.Add(step + tol)) {
		return time.Time{}, false // the run fills the window: covered, so breached or not at all
	}
	return since, true
}

type series struct {
	labels  string
	samples []Sample
}

// apiResponse is the envelope of every Prometheus API answer.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

type matrix struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Values [][2]any          `json:"values"`
	} `json:"result"`
}

// queryRange runs query over [start, end] and returns its series sorted by
// label set.
func (p *Prometheus) queryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]series, error) {
	form := url.Values{
		"query": {query},
		"start": {unixSeconds(start)},
		"end":   {unixSeconds(end)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	endpoint := strings.TrimRight(p.URL, "/") + "/api/v1/query_range"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err // *url.Error names the URL, without its password
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("reading response: %w", err)
	}
	if len(body) > maxResponse {
		return nil, fmt.Errorf("response larger than %d bytes", maxResponse)
	}

	var ar apiResponse
	if err := json.Unmarshal(body, &ar); err != nil || ar.Status == "" {
		if resp.StatusCode != http.StatusOK {
			return nil, &APIError{StatusCode: resp.StatusCode, Message: snippet(body)}
		}
		return nil, fmt.Errorf("decoding response: not a Prometheus API answer: %s", snippet(body))
	}
	if ar.Status != "success" {
		return nil, &APIError{StatusCode: resp.StatusCode, Type: ar.ErrorType, Message: ar.Error}
	}
	var m matrix
	if err := json.Unmarshal(ar.Data, &m); err != nil {
		return nil, fmt.Errorf("decoding result: %w", err)
	}
	if m.ResultType != "matrix" {
		return nil, fmt.Errorf("decoding result: want a matrix, got %q", m.ResultType)
	}
	out := make([]series, 0, len(m.Result))
	for _, r := range m.Result {
		s := series{labels: labelString(r.Metric), samples: make([]Sample, 0, len(r.Values))}
		for _, v := range r.Values {
			smp, err := parseSample(v)
			if err != nil {
				return nil, fmt.Errorf("decoding series %s: %w", s.labels, err)
			}
			s.samples = append(s.samples, smp)
		}
		sort.Slice(s.samples, func(i, j int) bool { return s.samples[i].Time.Before(s.samples[j].Time) })
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].labels < out[j].labels })
	return out, nil
}

// parseSample decodes a [<unix seconds>, "<value>"] pair.
func parseSample(v [2]any) (Sample, error) {
	ts, ok := v[0].(float64)
	if !ok {
		return Sample{}, fmt.Errorf("timestamp %v is not a number", v[0])
	}
	vs, ok := v[1].(string)
	if !ok {
		return Sample{}, fmt.Errorf("value %v is not a string", v[1])
	}
	f, err := strconv.ParseFloat(vs, 64)
	if err != nil {
		return Sample{}, fmt.Errorf("value %q: %w", vs, err)
	}
	sec, frac := math.Modf(ts)
	return Sample{Time: time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC(), Value: f}, nil
}

func unixSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1e3, 'f', 3, 64)
}

// labelString formats a label set as Prometheus prints it: name{a="1",b="2"}.
func labelString(metric map[string]string) string {
	names := make([]string, 0, len(metric))
	for n := range metric {
		if n != "__name__" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(metric["__name__"])
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(metric[n]))
	}
	b.WriteByte('}')
	return b.String()
}

func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > 256 {
		s = s[:256] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// bound renders m's bounds, e.g. "min 0.9" or "min 0.9, max 1".
func bound(m Monitor) string {
	var parts []string
	if m.Min != nil {
		parts = append(parts, "min "+num(*m.Min))
	}
	if m.Max != nil {
		parts = append(parts, "max "+num(*m.Max))
	}
	return strings.Join(parts, ", ")
}

// observed summarises samples: the last value and the value nearest the
// bound (the best one: max for a min bound, min for a max bound).
func observed(m Monitor, samples []Sample, covered bool) string {
	if len(samples) == 0 {
		return "no samples"
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range samples {
		lo, hi = math.Min(lo, s.Value), math.Max(hi, s.Value)
	}
	parts := []string{"last " + num(samples[len(samples)-1].Value)}
	if m.Max != nil {
		parts = append(parts, "min "+num(lo))
	}
	if m.Min != nil {
		parts = append(parts, "max "+num(hi))
	}
	s := strings.Join(parts, ", ") + " over " + duration(m.For)
	if !covered {
		s += fmt.Sprintf(" (window not covered: samples from %s to %s)",
			samples[0].Time.UTC().Format(time.RFC3339), samples[len(samples)-1].Time.UTC().Format(time.RFC3339))
	}
	return s
}

// num formats a value with four significant digits, without an exponent
// for ordinary magnitudes.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'g', 4, 64)
	if a := math.Abs(v); strings.Contains(s, "e") && a >= 1e-4 && a < 1e15 {
		f, _ := strconv.ParseFloat(s, 64)
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	return s
}

// duration formats d without zero units: 30m, 1h30m, 45s.
func duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
