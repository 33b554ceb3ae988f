package page

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/remedy"
	"github.com/cairnops/cairn/schema"
)

//go:embed page.html
var source string

var templates = template.Must(template.New("page").Funcs(template.FuncMap{
	"rev":  revision,
	"join": func(s []string) string { return strings.Join(s, ", ") },
	"when": when,
	"cls":  func(s string) string { return strings.Fields(s + " x")[0] },
	"isURL": func(s string) bool {
		u, err := url.Parse(s)
		return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
	},
	"num": func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) },
}).Parse(source))

// Live is the state of a running daemon shown beside the inventory. A
// static export fills only Revision, Generated and, from a state directory,
// Targets and Audit.
type Live struct {
	// Static marks a static export: no refresh, no form, no live health.
	Static bool
	// Refresh is the meta refresh interval in seconds; 0 for none.
	Refresh int
	// Generated is when a static export was written.
	Generated time.Time
	// Revision is the revision shown; AppliedRevision the last applied
	// without error. Worktree (inventory.Worktree) is shown with Dir and
	// the times, which are what is true of a work tree.
	Revision, AppliedRevision, Dir string
	// Ready is true once a revision was loaded.
	Ready     bool
	LastError string
	// LastReconcile is when the last reconcile ended; LastApplied when the
	// last good one did.
	LastReconcile, LastApplied time.Time
	Targets                    []Target
	Findings                   []Finding
	// MoreFindings is how many open findings Findings leaves out.
	MoreFindings int
	Audit        []reconciler.AuditEntry
	AuditErr     string
	// Follower is true on a replica that does not hold the lease (cairn
	// daemon --leader-elect); Leader is the identity of the one that does.
	Follower bool
	Leader   string
}

// Target is one target as the reconciler's state records it, with the
// times of its last audit entries.
type Target struct {
	Name, Stage, Kind, Applied, Attempted, Result string
	AppliedAt, AttemptedAt                        time.Time
}

// Finding is one open finding of the daemon's status.
type Finding struct {
	Kind, Rule, Target, Model, File string
	Line                            int
	Message                         string
	DecideAt                        *time.Time
}

// Targets returns the targets of settings with their recorded states, and
// the times of the last entry (AttemptedAt) and last applied entry
// (AppliedAt) of each in audit.
func Targets(settings schema.Settings, states map[string]reconciler.TargetState, audit []reconciler.AuditEntry) []Target {
	out := []Target{}
	for _, n := range slices.Sorted(maps.Keys(settings.Targets)) {
		t, st := settings.Targets[n], states[n]
		tt := Target{Name: n, Stage: t.Stage, Kind: t.Kind, Applied: st.LastAppliedRevision, Attempted: st.LastAttemptedRevision, Result: st.Result}
		for _, e := range audit {
			if e.Target != n {
				continue
			}
			tt.AttemptedAt = e.Time
			if e.Revision == st.LastAppliedRevision && AppliedEntry(e) {
				tt.AppliedAt = e.Time
			}
		}
		out = append(out, tt)
	}
	return out
}

// AppliedEntry reports whether audit entry e applied a change of its
// revision to its target.
func AppliedEntry(e reconciler.AuditEntry) bool {
	return e.Action != "refused" && strings.HasPrefix(e.Result, "applied")
}

// links are the relative links of one page: the daemon's paths (/ and
// /models/NAME) or the static site's files (index.html, index-N.html,
// models/NAME.html). up is true on a model page, one level down.
type links struct {
	static, up bool
}

func (l links) Model(name string) string {
	p := url.PathEscape(name)
	if l.static {
		p += ".html"
	}
	if !l.up {
		p = "models/" + p
	}
	return p
}

func (l links) Index() string {
	switch {
	case l.static && l.up:
		return "../index.html"
	case l.static:
		return "index.html"
	case l.up:
		return "../"
	}
	return "./"
}

// IndexFile is the static file of index page n.
func IndexFile(n int) string {
	if n <= 1 {
		return "index.html"
	}
	return "index-" + strconv.Itoa(n) + ".html"
}

// pageLink returns the link to page n of r's query.
func (l links) pageLink(r Result, n int) string {
	if l.static {
		return IndexFile(n)
	}
	v := url.Values{}
	for k, s := range map[string]string{"q": r.Q, "stage": r.Stage, "risk": r.Risk, "state": r.State} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if r.PerPage != DefaultPerPage {
		v.Set("per", strconv.Itoa(r.PerPage))
	}
	if n > 1 {
		v.Set("page", strconv.Itoa(n))
	}
	if len(v) == 0 {
		return "./"
	}
	return "?" + v.Encode()
}

type indexPage struct {
	Title  string
	Live   Live
	Links  links
	Inv    *Inventory
	R      Result
	States []string
	Prev   string
	Next   string
}

// RenderIndex writes the index page of the models r holds (from Find).
func (p *Inventory) RenderIndex(w io.Writer, r Result, live Live) error {
	l := links{static: live.Static}
	d := indexPage{Title: "Model inventory", Live: live, Links: l, Inv: p, R: r, States: States}
	if r.Page > 1 {
		d.Prev = l.pageLink(r, r.Page-1)
	}
	if r.Page < r.Pages {
		d.Next = l.pageLink(r, r.Page+1)
	}
	return execute(w, "index", d)
}

// History is a model's history as reconciler.History returns it.
type History struct {
	Entries []reconciler.HistoryEntry
	Err     error
}

type modelPage struct {
	Title    string
	Live     Live
	Links    links
	S        *Summary
	M        *inventory.Model
	Versions []versionRow
	Deploy   []deployRow
	// Serving is true when a target reports serving state (kserve): the
	// deployments table then has a Serving column.
	Serving     bool
	Monitors    []monitorRow
	MonitorsAt  time.Time
	History     []reconciler.HistoryEntry
	HistoryNote string
	Signatures  []signatureRow
	Findings    []Finding
}

type versionRow struct {
	Name    string
	V       *schema.Version
	Stages  []string
	Metrics []metric
}

type metric struct {
	Name  string
	Value float64
}

type deployRow struct {
	Target, Stage, Pinned, Observed, Health string
	// Serving is what the serving platform says (kserve): "ready", or
	// "not ready: why"; URL where it serves the model.
	Serving, URL string
}

type monitorRow struct {
	Name, Stage, Query, Bounds, For, Action, State, Value, Message string
	DecideAt                                                       *time.Time
}

type signatureRow struct {
	Version, Stages, Status, Identity, Digest, Bundle, Reason string
}

// ErrNotFound is returned by RenderModel for a model the inventory does not have.
var ErrNotFound = errors.New("no such model")

// RenderModel writes the page of the named model with its history h;
// ErrNotFound (nothing written) when the inventory has no such model.
func (p *Inventory) RenderModel(w io.Writer, name string, h History, live Live) error {
	s := p.byName[name]
	if s == nil {
		return ErrNotFound
	}
	m := s.model
	d := modelPage{Title: name, Live: live, Links: links{static: live.Static, up: true}, S: s, M: m, MonitorsAt: p.ev.MonitorsAt}
	stagesOf := map[string][]string{}
	for _, pin := range s.Pins {
		stagesOf[pin.Version] = append(stagesOf[pin.Version], pin.Stage)
	}
	for _, v := range slices.SortedFunc(maps.Keys(m.Versions), func(a, b string) int { return compareVersions(b, a) }) {
		row := versionRow{Name: v, V: m.Versions[v], Stages: stagesOf[v]}
		for _, k := range slices.Sorted(maps.Keys(row.V.Metrics)) {
			row.Metrics = append(row.Metrics, metric{k, row.V.Metrics[k]})
		}
		d.Versions = append(d.Versions, row)
	}
	d.Deploy = p.deployments(s, live.Static)
	for _, r := range d.Deploy {
		d.Serving = d.Serving || r.Serving != ""
	}
	d.Monitors = p.monitors(s)
	for _, pin := range s.Signatures {
		row := signatureRow{Version: pin.Version, Status: pin.Signature, Stages: strings.Join(stagesOf[pin.Version], ", ")}
		if c, ok := p.checks[name+"@"+pin.Version]; ok {
			row.Status, row.Identity, row.Digest, row.Bundle, row.Reason = string(c.Status), c.Identity, c.Digest, c.Bundle, c.Reason
		}
		d.Signatures = append(d.Signatures, row)
	}
	switch {
	case errors.Is(h.Err, reconciler.ErrNoHistory):
		d.HistoryNote = "No history: the inventory is not in a git repository."
	case h.Err != nil:
		d.HistoryNote = "History could not be read: " + h.Err.Error()
	case len(h.Entries) == 0:
		d.HistoryNote = "No commit changed this model's stages."
	}
	d.History = slices.Clone(h.Entries)
	slices.Reverse(d.History)
	for _, f := range live.Findings {
		// Monitor findings are shown in the monitors table.
		if f.Model == name && !strings.HasPrefix(f.Kind, "monitor-") {
			d.Findings = append(d.Findings, f)
		}
	}
	return execute(w, "model", d)
}

// deployments returns a row per target whose stage s pins a version, with
// what the last drift report observed there.
func (p *Inventory) deployments(s *Summary, static bool) []deployRow {
	var out []deployRow
	for _, n := range p.targets {
		t := p.inv.Settings.Targets[n]
		v, ok := s.model.Stages[t.Stage]
		if !ok {
			continue
		}
		row := deployRow{Target: n, Stage: t.Stage, Pinned: v}
		rep := p.ev.Drift
		switch {
		case static:
			row.Health = "not observed (static export)"
		case rep == nil:
			row.Health = "not observed yet"
		case rep.Errors[n] != "":
			row.Health = "error: " + rep.Errors[n]
		case rep.Skipped[n] != "":
			row.Health = "not observed: " + rep.Skipped[n]
		default:
			if st, ok := rep.Served[n][s.Name]; ok {
				row.Serving, row.URL = "ready", st.URL
				if !st.Ready {
					row.Serving = "not ready: " + st.Reason
				}
			}
			row.Observed, row.Health = v, "ok"
			for _, f := range rep.Findings {
				if f.Target == n && f.Model == s.Name {
					row.Observed, row.Health = f.Got, f.Kind+": "+f.Message
					if row.Observed == "" {
						row.Observed = "absent"
					}
					if f.Healed {
						row.Observed, row.Health = v, f.Kind+" (healed): "+f.Message
					}
				}
			}
		}
		out = append(out, row)
	}
	return out
}

// monitors returns a row per monitor of s with the state the last
// evaluation gave it: a finding's kind, ok without a finding.
func (p *Inventory) monitors(s *Summary) []monitorRow {
	var out []monitorRow
	m := s.model
	for _, name := range slices.Sorted(maps.Keys(m.Monitors)) {
		sm := m.Monitors[name]
		row := monitorRow{Name: name, Query: sm.Query, Stage: sm.Stage, For: sm.For, Action: sm.Action, Bounds: bounds(sm.Min, sm.Max)}
		if row.Stage == "" {
			row.Stage = remedy.DefaultStage
		}
		if row.For == "" {
			row.For = "15m"
		}
		switch {
		case p.ev.MonitorsAt.IsZero():
			row.State = "not evaluated"
		case m.Retired:
			row.State = "not evaluated (retired)"
		default:
			row.State = StateOK
			for _, f := range p.ev.Monitors {
				if f.Model == m.Name && f.Monitor == name {
					row.State, row.Value, row.Message, row.DecideAt = strings.TrimPrefix(f.Kind, "monitor-"), f.Observed, f.Message, f.DecideAt
				}
			}
		}
		out = append(out, row)
	}
	return out
}

func bounds(lo, hi *float64) string {
	f := func(x *float64) string { return strconv.FormatFloat(*x, 'g', -1, 64) }
	switch {
	case lo != nil && hi != nil:
		return f(lo) + " ≤ value ≤ " + f(hi)
	case lo != nil:
		return "value ≥ " + f(lo)
	case hi != nil:
		return "value ≤ " + f(hi)
	}
	return "none"
}

// RenderNotFound writes the page for a model the inventory does not have.
func RenderNotFound(w io.Writer, name string, live Live) error {
	return execute(w, "notfound", struct {
		Title string
		Live  Live
		Links links
		Name  string
	}{"No such model", live, links{static: live.Static, up: true}, name})
}

// execute renders into a buffer first so that a template error writes
// nothing half-done.
func execute(w io.Writer, name string, data any) error {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("rendering %s page: %w", name, err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func revision(rev string) string {
	if rev == inventory.Worktree {
		return "work tree"
	}
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

func when(t any) string {
	switch t := t.(type) {
	case time.Time:
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	case *time.Time:
		if t == nil || t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	return ""
}
