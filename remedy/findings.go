// Package remedy turns what Cairn observes into reviewable changes
// (DESIGN.md §4): it evaluates every model's monitors into findings
// (`monitor-breach`, `monitor-error`) and answers them through the forge with
// one pull request per finding branch, `cairn/<kind>/<model>` — a rollback
// of the stage pin, a retraining request (with a repository_dispatch), or a
// pin of git to what a target runs. Pull requests whose finding no longer
// holds are closed with a comment.
package remedy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/monitor"
	"github.com/cairnops/cairn/schema"
)

// Finding kinds of monitors.
const (
	// KindMonitorBreach: a monitor was out of bounds for its whole window.
	KindMonitorBreach = "monitor-breach"
	// KindMonitorError: a monitor could not be evaluated (source down, an
	// error answer, no data, an unknown source or an invalid monitor). It is
	// never remediated.
	KindMonitorError = "monitor-error"
	// KindMonitorPending: a monitor is out of bounds but not for a full
	// window yet — the breach began inside the window, or the version the
	// stage pins entered it after the window started, so earlier samples
	// judge another version. DecideAt says when a full window will have
	// passed. It opens no pull request and does not fail `cairn drift`.
	KindMonitorPending = "monitor-pending"
)

// DefaultStage is the stage a monitor watches when it names none.
const DefaultStage = "production"

// Finding is the outcome of one monitor that needs attention.
type Finding struct {
	Kind    string `json:"kind"`
	Model   string `json:"model"`
	Monitor string `json:"monitor"`
	Stage   string `json:"stage"`
	// Version is the version pinned at Stage when the monitor was
	// evaluated, empty when the stage pins none.
	Version string `json:"version,omitempty"`
	Action  string `json:"action"`
	Query   string `json:"query"`
	Source  string `json:"source"`
	// Bound, Observed and Window are the evidence of a breach.
	Bound    string       `json:"bound,omitempty"`
	Observed string       `json:"observed,omitempty"`
	Window   [2]time.Time `json:"window"`
	// DecideAt is, for a monitor-pending, when the window will be full:
	// the monitor is then breached if it stays out of bounds.
	DecideAt *time.Time `json:"decideAt,omitempty"`
	Message  string     `json:"message"`
	// Result is the full evaluation of a breach (samples included).
	Result monitor.Result `json:"-"`
	// Err is the cause of a monitor-error.
	Err error `json:"-"`
}

// String returns "<kind> <model>/<monitor>: <message>".
func (f Finding) String() string {
	return fmt.Sprintf("%s %s/%s: %s", f.Kind, f.Model, f.Monitor, f.Message)
}

// Sources returns the metric sources that settings name (kind prometheus),
// with the "default" source's URL replaced by defaultURL when it is not
// empty (added when settings have no default). client is the HTTP client of
// every source; nil means http.DefaultClient.
func Sources(settings schema.Settings, defaultURL string, client *http.Client) monitor.Sources {
	out := monitor.Sources{}
	for name, s := range settings.Sources {
		if s.Kind != "" && s.Kind != "prometheus" {
			continue
		}
		out[name] = &monitor.Prometheus{URL: s.URL, Client: client}
	}
	if defaultURL != "" {
		out["default"] = &monitor.Prometheus{URL: defaultURL, Client: client}
	}
	return out
}

// Evaluate evaluates, at now, the monitors of every valid model of inv that
// is not retired, in model and monitor name order, and returns the findings:
// a monitor-breach per breached monitor, a monitor-pending per monitor out
// of bounds for less than a full window (or breached over a window that
// began before the stage's version was pinned, as git history says), and a
// monitor-error per monitor that could not be evaluated. A monitor that
// holds gives no finding. load tunes the evaluations of earlier commits that
// reading git history takes (its Isolate bounds them). The error is for a
// cancelled ctx only.
func Evaluate(ctx context.Context, inv *inventory.Inventory, sources monitor.Sources, now time.Time, load inventory.Options) ([]Finding, error) {
	out := []Finding{}
	for _, m := range inv.Models {
		if !m.Valid || m.Retired {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(m.Monitors)) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if f, ok := evaluateOne(ctx, inv, m, name, sources, now, load); ok {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// Monitor converts a model's monitor to monitor.Monitor with DESIGN.md's
// defaults (source "default", for "15m", stage "production").
func Monitor(model, name string, sm schema.Monitor) (monitor.Monitor, error) {
	mon := monitor.Monitor{
		Model: model, Name: name, Query: sm.Query, Source: sm.Source, Stage: sm.Stage,
		Action: sm.Action, Kind: sm.Kind, Min: sm.Min, Max: sm.Max,
	}
	if mon.Source == "" {
		mon.Source = "default"
	}
	if mon.Stage == "" {
		mon.Stage = DefaultStage
	}
	forStr := sm.For
	if forStr == "" {
		forStr = "15m"
	}
	d, err := time.ParseDuration(forStr)
	if err != nil {
		return mon, fmt.Errorf("monitor %s/%s: for %q: %w", model, name, forStr, err)
	}
	mon.For = d
	return mon, nil
}

func evaluateOne(ctx context.Context, inv *inventory.Inventory, m *inventory.Model, name string, sources monitor.Sources, now time.Time, load inventory.Options) (Finding, bool) {
	sm := m.Monitors[name]
	mon, err := Monitor(m.Name, name, *sm)
	f := Finding{
		Model: m.Name, Monitor: name, Stage: mon.Stage, Version: m.Stages[mon.Stage],
		Action: mon.Action, Query: mon.Query, Source: mon.Source,
		Window: [2]time.Time{now.Add(-mon.For), now},
	}
	fail := func(err error) (Finding, bool) {
		f.Kind, f.Err = KindMonitorError, err
		f.Message = oneLine(err.Error())
		return f, true
	}
	if err != nil {
		return fail(err)
	}
	src, err := sources.Source(mon.Source)
	if err != nil {
		return fail(err)
	}
	res, err := src.Evaluate(ctx, mon, now)
	if err != nil {
		var se *monitor.SourceError
		if !errors.As(err, &se) && ctx.Err() != nil {
			return fail(ctx.Err())
		}
		return fail(err)
	}
	f.Result, f.Bound, f.Observed, f.Window = res, res.Bound, res.Observed, res.Window
	pending := func(since, decide time.Time, why string) (Finding, bool) {
		f.Kind, f.DecideAt = KindMonitorPending, &decide
		f.Result.Breached, f.Result.Pending, f.Result.PendingSince, f.Result.DecideAt = false, true, since, decide
		f.Message = fmt.Sprintf("%s out of bounds (%s) on %s %s %s; decided at %s; action %s",
			orDash(res.Series), res.Bound, f.Stage, orDash(f.Version), why, stamp(decide), mon.Action)
		return f, true
	}
	switch {
	case res.Breached:
		// Evidence from before the current pin does not judge the version.
		if pinned := pinnedAt(ctx, inv, m.Name, mon.Stage, f.Version, load); pinned.After(res.Window[0]) {
			return pending(pinned, pinned.Add(mon.For),
				fmt.Sprintf("for the whole window, but %s entered %s at %s, after the window started", f.Version, f.Stage, stamp(pinned)))
		}
	case res.Pending:
		return pending(res.PendingSince, res.DecideAt, fmt.Sprintf("since %s, less than %s", stamp(res.PendingSince), mon.For))
	default:
		return Finding{}, false
	}
	f.Kind = KindMonitorBreach
	f.Message = fmt.Sprintf("%s out of bounds (%s) for %s on %s %s: %s; action %s",
		orDash(res.Series), res.Bound, mon.For, f.Stage, orDash(f.Version), res.Observed, mon.Action)
	return f, true
}

// pinnedAt returns when version entered model's stage, as PreviousVersion
// reads git history; zero when it cannot tell (no repository, no history).
func pinnedAt(ctx context.Context, inv *inventory.Inventory, model, stage, version string, load inventory.Options) time.Time {
	if version == "" || inv == nil || inv.Source == nil || inv.Source.Repo == nil {
		return time.Time{}
	}
	prev, err := PreviousVersion(ctx, inv, model, stage, version, load)
	if err != nil && !errors.Is(err, ErrNoPrevious) {
		return time.Time{}
	}
	return prev.PinnedAt
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
