// Package monitor evaluates model monitors (DESIGN.md §1, `monitors`)
// against metric sources and decides whether a breach has held for a whole
// window. Evaluation is stateless: each call looks back over the monitor's
// `for` duration, so a restarted daemon reaches the same answer.
package monitor

import (
	"errors"
	"fmt"
	"time"
)

// Monitor is one model monitor as in DESIGN.md §1 (monitors), with defaults
// (source "default", for 15m, stage "production") applied by the caller.
type Monitor struct {
	Model, Name, Query, Source, Stage, Action, Kind string
	// Min and Max bound the metric; a value below Min or above Max is out of
	// bounds. At least one is set.
	Min, Max *float64
	// For is how long every sample must stay out of bounds for a breach.
	For time.Duration
}

// Result is the outcome of evaluating one monitor at one instant, with the
// evidence for a pull-request body whether or not it is breached.
type Result struct {
	Monitor Monitor
	// Breached is true when some series was out of bounds for every sample
	// of a covered window.
	Breached bool
	// Covered is true when the reported series has samples from the start
	// to the end of the window with no gap longer than one step.
	Covered bool
	// Window is [now-For, now].
	Window [2]time.Time
	// Step is the query_range resolution.
	Step time.Duration
	// Samples are the values of the reported series: the first breaching
	// series, or else the first series in label order.
	Samples []Sample
	// Series is the label set of the reported series, e.g.
	// accuracy{model="fraud-detector"}.
	Series string
	// Breaching lists the label sets of every breaching series.
	Breaching []string
	// SeriesCount is how many series the query returned.
	SeriesCount int
	// Bound is human text such as "min 0.9" or "min 0.9, max 1".
	Bound string
	// Observed summarises the reported series, e.g. "last 0.82, max 0.85 over 30m".
	Observed string
	// Pending is true, when no series is breached, for a series that is
	// out of bounds from some instant inside the window to its end — the
	// breach began, or the series' samples begin, after the window
	// started — so that it is not decided yet. The reported series is then
	// the pending one that is decided first.
	Pending bool
	// PendingSince is when the pending series' run of out-of-bounds samples
	// began, and DecideAt is PendingSince + For: the first evaluation
	// whose window the run can fill, when it will be breached if the
	// series stays out of bounds.
	PendingSince, DecideAt time.Time
}

// Sample is one value of a series at one time.
type Sample struct {
	Time  time.Time
	Value float64
}

// Sources maps source names (inventory.cue `sources`) to Prometheus servers.
type Sources map[string]*Prometheus

// ErrUnknownSource is returned by Sources.Source for a name not in the map.
var ErrUnknownSource = errors.New("unknown metric source")

// Source returns the source called name ("" means "default"), or an error
// wrapping ErrUnknownSource.
func (s Sources) Source(name string) (*Prometheus, error) {
	if name == "" {
		name = "default"
	}
	p, ok := s[name]
	if !ok || p == nil {
		return nil, fmt.Errorf("source %q: %w", name, ErrUnknownSource)
	}
	return p, nil
}

// ErrNoData is wrapped by a SourceError when a query returns no series: a
// monitor that sees nothing must not pass silently.
var ErrNoData = errors.New("query returned no data")

// SourceError is an error querying a metric source: unreachable, an HTTP
// error, a Prometheus error response or no data. Callers report it as a
// `monitor-error` finding.
type SourceError struct {
	Source string // source name, e.g. "default"
	Query  string // the PromQL
	Err    error  // the cause; *APIError for an error answer from Prometheus
}

// Error implements error.
func (e *SourceError) Error() string {
	return fmt.Sprintf("source %s: query %q: %v", e.Source, e.Query, e.Err)
}

// Unwrap returns the cause.
func (e *SourceError) Unwrap() error { return e.Err }

// APIError is an error answer from the Prometheus HTTP API.
type APIError struct {
	StatusCode int    // HTTP status
	Type       string // errorType, e.g. "bad_data"; empty if the body was not Prometheus JSON
	Message    string // error, or the start of a non-JSON body
}

// Error implements error.
func (e *APIError) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("prometheus %s (HTTP %d): %s", e.Type, e.StatusCode, e.Message)
	}
	return fmt.Sprintf("prometheus HTTP %d: %s", e.StatusCode, e.Message)
}
