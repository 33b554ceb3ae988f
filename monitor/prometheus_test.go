package monitor_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/promtest"
	"github.com/cairnops/cairn/monitor"
)

func ptr(v float64) *float64 { return &v }

// history is two hours of one-minute samples ending at now: values[i] is at
// now-120m+i minutes, so values[120] is at now.
const history = 120

// fill returns history+1 values built by f(minutesBeforeNow).
func fill(f func(ago int) float64) []float64 {
	v := make([]float64, history+1)
	for i := range v {
		v[i] = f(history - i)
	}
	return v
}

// fixture starts one Prometheus with every series the tests query and
// returns its URL and the instant the data ends at.
func fixture(t testing.TB) (string, time.Time) {
	t.Helper()
	now := time.Now().Add(-5 * time.Minute).Truncate(time.Minute)
	start := now.Add(-history * time.Minute)
	var om strings.Builder
	add := func(metric string, labels map[string]string, values []float64) {
		om.WriteString(promtest.Series(metric, labels, start, time.Minute, values...))
	}
	acc := func(model string, f func(ago int) float64) {
		add("model_accuracy", map[string]string{"model": model}, fill(f))
	}
	om.WriteString("# TYPE model_accuracy gauge\n")
	// Below 0.9 for the last hour, alternating 0.85 and 0.82, ending at 0.82.
	acc("low-long", func(ago int) float64 {
		switch {
		case ago >= 60:
			return 0.95
		case ago == 0 || ago%2 == 1:
			return 0.82
		}
		return 0.85
	})
	// Below 0.9 for the last 10 minutes only.
	acc("low-short", func(ago int) float64 {
		if ago >= 10 {
			return 0.95
		}
		return 0.8
	})
	acc("ok", func(int) float64 { return 0.95 })
	// Below 0.9 throughout but for one minute back in bounds.
	acc("dip", func(ago int) float64 {
		if ago == 15 {
			return 0.91
		}
		return 0.5
	})
	// Below 0.9 but stopped reporting 20 minutes ago (stale after 5m lookback).
	add("model_accuracy", map[string]string{"model": "stopped"}, fill(func(int) float64 { return 0.5 })[:history-20+1])
	// Below 0.9 but silent from 30 to 15 minutes ago: with the 5m lookback
	// the window has a 10-minute hole.
	gap := fill(func(int) float64 { return 0.5 })
	add("model_accuracy", map[string]string{"model": "gap"}, gap[:history-30+1])
	om.WriteString(promtest.Series("model_accuracy", map[string]string{"model": "gap"},
		now.Add(-15*time.Minute), time.Minute, gap[history-15:]...))
	// Below 0.9 but only reporting for the last 10 minutes.
	om.WriteString(promtest.Series("model_accuracy", map[string]string{"model": "late"},
		now.Add(-10*time.Minute), time.Minute, fill(func(int) float64 { return 0.5 })[history-10:]...))
	om.WriteString("# TYPE latency_p99_seconds gauge\n")
	add("latency_p99_seconds", map[string]string{"model": "ranker"}, fill(func(ago int) float64 {
		if ago >= 45 {
			return 0.4
		}
		return 0.6 + float64(ago%2)/10
	}))
	om.WriteString("# TYPE feature_drift gauge\n")
	for feature, f := range map[string]func(int) float64{
		"a": func(int) float64 { return 0.1 },
		"b": func(int) float64 { return 0.3 },
		"c": func(ago int) float64 {
			if ago < 10 {
				return 0.5
			}
			return 0.1
		},
	} {
		add("feature_drift", map[string]string{"model": "m", "feature": feature}, fill(f))
	}
	s := promtest.Run(t, om.String())
	t.Logf("prometheus started in %s", s.Started)
	return s.URL, now
}

func TestEvaluate(t *testing.T) {
	url, now := fixture(t)
	p := &monitor.Prometheus{URL: url}
	ctx := t.Context()

	tests := []struct {
		name        string
		query       string
		min, max    *float64
		forDur      time.Duration
		breached    bool
		covered     bool
		series      string
		breaching   []string
		seriesCount int
		observed    string
		// pendingAgo is how long before now a pending run began (on the
		// query's step grid); zero when the result is not pending.
		pendingAgo time.Duration
	}{
		{
			name: "below min longer than for", query: `model_accuracy{model="low-long"}`, min: ptr(0.9), forDur: 30 * time.Minute,
			breached: true, covered: true, series: `model_accuracy{model="low-long"}`,
			breaching: []string{`model_accuracy{model="low-long"}`}, seriesCount: 1,
			observed: "last 0.82, max 0.85 over 30m",
		},
		{
			name: "below min for less than for", query: `model_accuracy{model="low-short"}`, min: ptr(0.9), forDur: 30 * time.Minute,
			covered: true, series: `model_accuracy{model="low-short"}`, seriesCount: 1,
			observed: "last 0.8, max 0.95 over 30m", pendingAgo: 9 * time.Minute,
		},
		{
			name: "inside bounds", query: `model_accuracy{model="ok"}`, min: ptr(0.9), max: ptr(1), forDur: 15 * time.Minute,
			covered: true, series: `model_accuracy{model="ok"}`, seriesCount: 1,
			observed: "last 0.95, min 0.95, max 0.95 over 15m",
		},
		{
			name: "one sample back in bounds", query: `model_accuracy{model="dip"}`, min: ptr(0.9), forDur: 30 * time.Minute,
			covered: true, series: `model_accuracy{model="dip"}`, seriesCount: 1,
			observed: "last 0.5, max 0.91 over 30m", pendingAgo: 13*time.Minute + 30*time.Second,
		},
		{
			name: "series stopped reporting", query: `model_accuracy{model="stopped"}`, min: ptr(0.9), forDur: 30 * time.Minute,
			series: `model_accuracy{model="stopped"}`, seriesCount: 1,
		},
		{
			name: "series started inside the window", query: `model_accuracy{model="late"}`, min: ptr(0.9), forDur: 30 * time.Minute,
			series: `model_accuracy{model="late"}`, seriesCount: 1, pendingAgo: 9 * time.Minute,
		},
		{
			name: "series with a hole", query: `model_accuracy{model="gap"}`, min: ptr(0.9), forDur: 45 * time.Minute,
			series: `model_accuracy{model="gap"}`, seriesCount: 1, pendingAgo: 13*time.Minute + 30*time.Second,
		},
		{
			name: "latency above max", query: `latency_p99_seconds{model="ranker"}`, max: ptr(0.5), forDur: 30 * time.Minute,
			breached: true, covered: true, series: `latency_p99_seconds{model="ranker"}`,
			breaching: []string{`latency_p99_seconds{model="ranker"}`}, seriesCount: 1,
			observed: "last 0.6, min 0.6 over 30m",
		},
		{
			name: "latency above max for less than for", query: `latency_p99_seconds{model="ranker"}`, max: ptr(0.5), forDur: time.Hour,
			covered: true, series: `latency_p99_seconds{model="ranker"}`, seriesCount: 1,
			observed: "last 0.6, min 0.4 over 1h", pendingAgo: 42 * time.Minute,
		},
		{
			name: "multi-series, one breaching", query: `feature_drift{model="m"}`, max: ptr(0.2), forDur: 30 * time.Minute,
			breached: true, covered: true, series: `feature_drift{feature="b",model="m"}`,
			breaching: []string{`feature_drift{feature="b",model="m"}`}, seriesCount: 3,
			observed: "last 0.3, min 0.3 over 30m",
		},
		{
			name: "multi-series, none breaching", query: `feature_drift{feature=~"a|c"}`, max: ptr(0.2), forDur: 30 * time.Minute,
			covered: true, series: `feature_drift{feature="c",model="m"}`, seriesCount: 2,
			observed: "last 0.5, min 0.1 over 30m", pendingAgo: 9 * time.Minute,
		},
		{
			name: "multi-series, two breaching over a short window", query: `feature_drift`, max: ptr(0.2), forDur: 5 * time.Minute,
			breached: true, covered: true, series: `feature_drift{feature="b",model="m"}`,
			breaching: []string{`feature_drift{feature="b",model="m"}`, `feature_drift{feature="c",model="m"}`}, seriesCount: 3,
			observed: "last 0.3, min 0.3 over 5m",
		},
		{
			name: "aggregation drops the metric name", query: `avg by (model) (model_accuracy{model=~"low-long|ok"})`, min: ptr(0.9), forDur: 30 * time.Minute,
			breached: true, covered: true, series: `{model="low-long"}`,
			breaching: []string{`{model="low-long"}`}, seriesCount: 2,
			observed: "last 0.82, max 0.85 over 30m",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := monitor.Monitor{Model: "fraud-detector", Name: "accuracy", Query: tt.query, Source: "default",
				Stage: "production", Action: "rollback", Kind: "performance", Min: tt.min, Max: tt.max, For: tt.forDur}
			r, err := p.Evaluate(ctx, m, now)
			require.NoError(t, err)
			assert.Equal(t, tt.breached, r.Breached, "breached; observed %s", r.Observed)
			assert.Equal(t, tt.covered, r.Covered, "covered; observed %s", r.Observed)
			assert.Equal(t, tt.series, r.Series)
			assert.Equal(t, tt.breaching, r.Breaching)
			assert.Equal(t, tt.seriesCount, r.SeriesCount)
			assert.Equal(t, tt.pendingAgo != 0, r.Pending, "pending since %s", r.PendingSince)
			if tt.pendingAgo != 0 {
				assert.Equal(t, now.Add(-tt.pendingAgo).UTC(), r.PendingSince.UTC())
				assert.Equal(t, r.PendingSince.Add(tt.forDur), r.DecideAt)
			}
			if tt.observed != "" {
				assert.Equal(t, tt.observed, r.Observed)
			} else {
				assert.Contains(t, r.Observed, "window not covered")
			}
			assert.Equal(t, m, r.Monitor)
			assert.Equal(t, [2]time.Time{now.Add(-tt.forDur), now}, r.Window)
			assert.Equal(t, max(tt.forDur/20, 15*time.Second), r.Step)
			require.NotEmpty(t, r.Samples)
			if tt.covered {
				assert.Equal(t, now.Add(-tt.forDur).UTC(), r.Samples[0].Time)
				assert.Equal(t, now.UTC(), r.Samples[len(r.Samples)-1].Time)
				assert.Len(t, r.Samples, int(tt.forDur/r.Step)+1)
			}
			if tt.breached {
				for _, s := range r.Samples {
					out := (tt.min != nil && s.Value < *tt.min) || (tt.max != nil && s.Value > *tt.max)
					assert.True(t, out, "sample %v at %s in bounds in a breach", s.Value, s.Time)
				}
			}
		})
	}

	t.Run("samples of a breach", func(t *testing.T) {
		r, err := p.Evaluate(ctx, monitor.Monitor{Query: `model_accuracy{model="low-long"}`, Min: ptr(0.9), For: 3 * time.Minute}, now)
		require.NoError(t, err)
		assert.True(t, r.Breached)
		assert.Equal(t, 15*time.Second, r.Step)
		var got []float64
		for _, s := range r.Samples {
			got = append(got, s.Value)
		}
		// now-3m (odd: 0.82) ... now-2m (even: 0.85) ... now-1m (0.82) ... now (0.82), every 15s.
		want := []float64{0.82, 0.82, 0.82, 0.82, 0.85, 0.85, 0.85, 0.85, 0.82, 0.82, 0.82, 0.82, 0.82}
		assert.Equal(t, want, got)
	})

	t.Run("bad PromQL", func(t *testing.T) {
		m := monitor.Monitor{Model: "fraud-detector", Name: "accuracy", Source: "default", Query: `model_accuracy{`, Min: ptr(0.9), For: 30 * time.Minute}
		_, err := p.Evaluate(ctx, m, now)
		var se *monitor.SourceError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "default", se.Source)
		assert.Equal(t, `model_accuracy{`, se.Query)
		var ae *monitor.APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, http.StatusBadRequest, ae.StatusCode)
		assert.Equal(t, "bad_data", ae.Type)
		assert.Contains(t, ae.Message, "parse error")
		assert.Contains(t, err.Error(), "parse error")
	})

	t.Run("no data", func(t *testing.T) {
		m := monitor.Monitor{Source: "default", Query: `model_accuracy{model="nope"}`, Min: ptr(0.9), For: 30 * time.Minute}
		_, err := p.Evaluate(ctx, m, now)
		var se *monitor.SourceError
		require.ErrorAs(t, err, &se)
		assert.ErrorIs(t, err, monitor.ErrNoData)
	})
}

func TestEvaluateStoppedSource(t *testing.T) {
	s := promtest.Run(t, "")
	s.Stop()
	p := &monitor.Prometheus{URL: s.URL, Client: &http.Client{Timeout: 5 * time.Second}}
	m := monitor.Monitor{Source: "metrics", Query: "up", Max: ptr(1), For: time.Minute}
	_, err := p.Evaluate(t.Context(), m, time.Now())
	var se *monitor.SourceError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "metrics", se.Source)
	var ae *monitor.APIError
	assert.False(t, errors.As(err, &ae), "a connection error is not an API answer: %v", err)
	assert.Contains(t, err.Error(), "connection refused")
}

func TestEvaluateHTTPErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantAPI *monitor.APIError
		wantMsg string
	}{
		{"proxy error page", http.StatusBadGateway, "<html>bad gateway</html>",
			&monitor.APIError{StatusCode: 502, Message: "<html>bad gateway</html>"}, "prometheus HTTP 502"},
		{"prometheus timeout", http.StatusServiceUnavailable, `{"status":"error","errorType":"timeout","error":"query timed out"}`,
			&monitor.APIError{StatusCode: 503, Type: "timeout", Message: "query timed out"}, "prometheus timeout (HTTP 503): query timed out"},
		{"not prometheus", http.StatusOK, "hello", nil, "not a Prometheus API answer"},
		{"not a matrix", http.StatusOK, `{"status":"success","data":{"resultType":"vector","result":[]}}`, nil, `want a matrix, got "vector"`},
		{"bad value", http.StatusOK, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}`, nil, `value "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "/prefix/api/v1/query_range", r.URL.Path)
				assert.Equal(t, "up", r.FormValue("query"))
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			p := &monitor.Prometheus{URL: srv.URL + "/prefix/", Client: srv.Client()}
			_, err := p.Evaluate(t.Context(), monitor.Monitor{Source: "default", Query: "up", Min: ptr(1), For: time.Minute}, time.Now())
			var se *monitor.SourceError
			require.ErrorAs(t, err, &se)
			assert.Contains(t, err.Error(), tt.wantMsg)
			var ae *monitor.APIError
			if tt.wantAPI != nil {
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tt.wantAPI, ae)
			} else {
				assert.False(t, errors.As(err, &ae))
			}
		})
	}
}

func TestEvaluateInvalidMonitor(t *testing.T) {
	tests := []struct {
		name string
		m    monitor.Monitor
		want string
	}{
		{"no query", monitor.Monitor{Min: ptr(1), For: time.Minute}, "empty query"},
		{"no bounds", monitor.Monitor{Query: "up", For: time.Minute}, "neither min nor max"},
		{"min above max", monitor.Monitor{Query: "up", Min: ptr(2), Max: ptr(1), For: time.Minute}, "min 2 is above max 1"},
		{"no for", monitor.Monitor{Query: "up", Min: ptr(1)}, "for 0s is not positive"},
	}
	// Nothing listens here: validation must fail before any request.
	p := &monitor.Prometheus{URL: "http://127.0.0.1:1"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.Model, tt.m.Name = "fraud-detector", "accuracy"
			_, err := p.Evaluate(t.Context(), tt.m, time.Now())
			require.Error(t, err)
			assert.Contains(t, err.Error(), "monitor fraud-detector/accuracy: "+tt.want)
			var se *monitor.SourceError
			assert.False(t, errors.As(err, &se))
		})
	}
}

func TestSources(t *testing.T) {
	def := &monitor.Prometheus{URL: "http://prometheus:9090"}
	other := &monitor.Prometheus{URL: "http://thanos:9090"}
	s := monitor.Sources{"default": def, "thanos": other}
	tests := []struct {
		name string
		want *monitor.Prometheus
	}{
		{"default", def}, {"", def}, {"thanos", other}, {"missing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Source(tt.name)
			if tt.want == nil {
				assert.ErrorIs(t, err, monitor.ErrUnknownSource)
				assert.EqualError(t, err, `source "missing": unknown metric source`)
				return
			}
			require.NoError(t, err)
			assert.Same(t, tt.want, got)
		})
	}
}

func BenchmarkEvaluate(b *testing.B) {
	url, now := fixture(b)
	p := &monitor.Prometheus{URL: url}
	m := monitor.Monitor{Query: `feature_drift{model="m"}`, Max: ptr(0.2), For: time.Hour}
	for b.Loop() {
		if _, err := p.Evaluate(b.Context(), m, now); err != nil {
			b.Fatal(err)
		}
	}
}
