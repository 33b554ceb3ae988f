package daemon

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/page"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/remedy"
)

// recentAudit is how many audit entries the index shows, newest first.
const recentAudit = 20

// indexFindings is how many open findings the index lists.
const indexFindings = 100

// pageRefresh is how often, in seconds, the pages reload themselves.
const pageRefresh = 30

// pages caches what the pages render: the built inventory, rebuilt when
// the state it was built from changes, and each model's history, read from
// git on the first request for it and kept until the inventory changes.
type pages struct {
	mu      sync.Mutex // guards the fields below
	key     pagesKey
	built   *page.Inventory
	history map[string]page.History

	auditMu  sync.Mutex // guards the fields below
	audit    *reconciler.AuditReader
	recent   []reconciler.AuditEntry // the last recentAudit entries, oldest first
	byTarget map[string]*targetAudit
	auditErr error
}

// targetAudit is what the pages show of one target's audit entries: the
// last one, and the last one that applied a change of each revision that
// may be the target's applied revision (its newest such revision, and the
// one targets.json names), for when it was applied.
type targetAudit struct {
	last    reconciler.AuditEntry
	newest  string // the newest revision that applied a change
	applied map[string]reconciler.AuditEntry
}

// pagesKey is what a built inventory depends on: every field is replaced,
// never mutated, when the daemon learns something new.
type pagesKey struct {
	inv        *inventory.Inventory
	result     *reconciler.Result
	drift      *reconciler.DriftReport
	monitors   *remedy.Finding // the first finding, for the slice's identity
	nMonitors  int
	monitorsAt time.Time
}

// builtPages returns the page inventory of the daemon's state, nil before the
// first good revision, with that inventory.
func (d *Daemon) builtPages() (*page.Inventory, *inventory.Inventory) {
	d.mu.Lock()
	k := pagesKey{inv: d.st.inv, result: d.st.result, drift: d.st.drift, nMonitors: len(d.st.monitors), monitorsAt: d.st.monitorsAt}
	if len(d.st.monitors) > 0 {
		k.monitors = &d.st.monitors[0]
	}
	mons := d.st.monitors
	d.mu.Unlock()
	if k.inv == nil {
		return nil, nil
	}
	d.pages.mu.Lock()
	defer d.pages.mu.Unlock()
	if d.pages.built == nil || d.pages.key != k {
		if d.pages.key.inv != k.inv {
			d.pages.history = map[string]page.History{}
		}
		d.pages.key = k
		d.pages.built = page.Build(k.inv, page.Evidence{Result: k.result, Drift: k.drift, Monitors: mons, MonitorsAt: k.monitorsAt})
	}
	return d.pages.built, k.inv
}

// live returns what the pages show of the daemon's state beside the inventory.
func (d *Daemon) live(inv *inventory.Inventory) page.Live {
	s := d.Status()
	l := page.Live{Refresh: pageRefresh, Revision: s.Revision, AppliedRevision: s.AppliedRevision, Ready: s.Ready,
		LastError: s.LastError, Follower: s.Role == "follower", Leader: s.Leader}
	if inv != nil {
		// The pages show the last good revision's inventory.
		l.Revision = inv.Source.Revision
		if l.Revision == inventory.Worktree {
			l.Dir = inv.Source.Dir
		}
	}
	if s.LastReconcile != nil {
		l.LastReconcile = *s.LastReconcile
	}
	for _, f := range s.Findings {
		if len(l.Findings) == indexFindings && inv != nil {
			// The index lists the first ones; a model page lists its own.
			l.MoreFindings = len(s.Findings) - indexFindings
			break
		}
		l.Findings = append(l.Findings, page.Finding{Kind: f.Kind, Rule: f.Rule, Target: f.Target, Model: f.Model,
			File: f.File, Line: f.Line, Message: f.Message, DecideAt: f.DecideAt})
	}
	recent, byTarget, err := d.auditLog()
	if err != nil {
		l.AuditErr = err.Error()
	}
	if inv != nil {
		states, _ := reconciler.States(d.opts.StateDir)
		l.Targets = page.Targets(inv.Settings, states, byTarget)
		// When the applied revision was applied, as the audit records it:
		// for a work tree, whose revision is always "worktree", the time
		// is what tells one apply from the next.
		for _, t := range l.Targets {
			if t.Applied == s.AppliedRevision && t.AppliedAt.After(l.LastApplied) {
				l.LastApplied = t.AppliedAt
			}
		}
	}
	l.Audit = slices.Clone(recent)
	slices.Reverse(l.Audit)
	return l
}

// auditLog returns the last recentAudit entries of the audit log, oldest
// first, and for each target its entries that page.Targets reads. The log
// grows with every apply: it is read once, a line at a time as lines are
// appended, and only what the pages show of it is kept. The slices are
// shared: callers must not modify them.
func (d *Daemon) auditLog() (recent, targets []reconciler.AuditEntry, err error) {
	d.pages.auditMu.Lock()
	defer d.pages.auditMu.Unlock()
	p := &d.pages
	if p.audit == nil {
		p.audit, p.byTarget = &reconciler.AuditReader{Dir: d.opts.StateDir}, map[string]*targetAudit{}
	}
	var states map[string]reconciler.TargetState
	for {
		entries, restart, err := p.audit.Read()
		if restart {
			p.recent, p.byTarget = nil, map[string]*targetAudit{}
		}
		p.auditErr = err
		if len(entries) == 0 {
			break
		}
		if states == nil {
			states, _ = reconciler.States(d.opts.StateDir)
		}
		p.keepAudit(entries, states)
	}
	for _, n := range slices.Sorted(maps.Keys(p.byTarget)) {
		ta := p.byTarget[n]
		// page.Targets takes the last entry of each target as its last.
		for _, e := range ta.applied {
			targets = append(targets, e)
		}
		targets = append(targets, ta.last)
	}
	return p.recent, targets, p.auditErr
}

// keepAudit keeps what the pages show of entries, the lines appended to
// the audit log since the last read, given the target states.
func (p *pages) keepAudit(entries []reconciler.AuditEntry, states map[string]reconciler.TargetState) {
	p.recent = append(slices.Clone(p.recent), entries...)
	p.recent = p.recent[max(0, len(p.recent)-recentAudit):]
	for _, e := range entries {
		ta := p.byTarget[e.Target]
		if ta == nil {
			ta = &targetAudit{applied: map[string]reconciler.AuditEntry{}}
			p.byTarget[e.Target] = ta
		}
		ta.last = e
		if page.AppliedEntry(e) {
			ta.applied[e.Revision], ta.newest = e, e.Revision
		}
	}
	for n, ta := range p.byTarget {
		for rev := range ta.applied {
			if rev != ta.newest && rev != states[n].LastAppliedRevision {
				delete(ta.applied, rev)
			}
		}
	}
}

// index serves GET /: the models that match the query (q, stage, risk,
// state, page, per), the targets, the open findings and the audit.
func (d *Daemon) index(w http.ResponseWriter, r *http.Request) {
	built, inv := d.builtPages()
	live := d.live(inv)
	var res page.Result
	if built == nil {
		built = page.Build(&inventory.Inventory{Source: &inventory.Source{}}, page.Evidence{})
	}
	res = built.Find(page.ParseQuery(r.URL.Query().Get))
	d.write(w, http.StatusOK, func(w io.Writer) error { return built.RenderIndex(w, res, live) })
}

// model serves GET /models/{name}: the model's page, 404 for a model the
// last good revision does not have.
func (d *Daemon) model(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	built, inv := d.builtPages()
	live := d.live(inv)
	if built == nil || built.Model(name) == nil {
		d.write(w, http.StatusNotFound, func(w io.Writer) error { return page.RenderNotFound(w, name, live) })
		return
	}
	h := d.history(r.Context(), inv, name)
	d.write(w, http.StatusOK, func(w io.Writer) error { return built.RenderModel(w, name, h, live) })
}

// history returns the model's history at inv's revision, from the cache
// or read from git once.
func (d *Daemon) history(ctx context.Context, inv *inventory.Inventory, name string) page.History {
	d.pages.mu.Lock()
	h, ok := d.pages.history[name]
	d.pages.mu.Unlock()
	if ok {
		return h
	}
	done := d.src.reading() // the packs it reads stay while it does
	entries, err := reconciler.History(ctx, inv.Source, name, d.opts.Load)
	done()
	h = page.History{Entries: entries, Err: err}
	if err != nil {
		return h // the request went away, or a read failed: try again next time
	}
	d.pages.mu.Lock()
	if d.pages.key.inv == inv {
		d.pages.history[name] = h
	}
	d.pages.mu.Unlock()
	return h
}

// write renders a page into a buffer and sends it with code; a render
// error is a 500 with nothing of the page.
func (d *Daemon) write(w http.ResponseWriter, code int, render func(io.Writer) error) {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		d.log.Error("rendering page", "error", err.Error())
		http.Error(w, "rendering page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
