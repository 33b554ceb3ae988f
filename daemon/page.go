package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
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

	auditMu   sync.Mutex // guards the fields below
	auditStat auditStat
	audit     []reconciler.AuditEntry
	auditErr  error
}

// auditStat identifies a version of the append-only audit log.
type auditStat struct {
	size int64
	mod  time.Time
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
	audit, err := d.auditLog()
	if err != nil {
		l.AuditErr = err.Error()
	}
	if inv != nil {
		states, _ := reconciler.States(d.opts.StateDir)
		l.Targets = page.Targets(inv.Settings, states, audit)
		// When the applied revision was applied, as the audit records it:
		// for a work tree, whose revision is always "worktree", the time
		// is what tells one apply from the next.
		for _, t := range l.Targets {
			if t.Applied == s.AppliedRevision && t.AppliedAt.After(l.LastApplied) {
				l.LastApplied = t.AppliedAt
			}
		}
	}
	if len(audit) > recentAudit {
		audit = audit[len(audit)-recentAudit:]
	}
	l.Audit = slices.Clone(audit)
	slices.Reverse(l.Audit)
	return l
}

// auditLog returns the entries of the audit log, read again only when
// its size or modification time changed: it grows with every apply, and
// parsing it whole on each request would make the pages slower with age.
// The slice is shared: callers must not modify it.
func (d *Daemon) auditLog() ([]reconciler.AuditEntry, error) {
	var st auditStat
	if fi, err := os.Stat(filepath.Join(d.opts.StateDir, reconciler.AuditFile)); err == nil {
		st = auditStat{size: fi.Size(), mod: fi.ModTime()}
	}
	d.pages.auditMu.Lock()
	defer d.pages.auditMu.Unlock()
	if d.pages.audit == nil && d.pages.auditErr == nil || st != d.pages.auditStat {
		d.pages.audit, d.pages.auditErr = reconciler.Audit(d.opts.StateDir)
		if d.pages.audit == nil {
			d.pages.audit = []reconciler.AuditEntry{}
		}
		d.pages.auditStat = st
	}
	return d.pages.audit, d.pages.auditErr
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
	entries, err := reconciler.History(ctx, inv.Source, name, d.opts.Load)
	h = page.History{Entries: entries, Err: err}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return h // the request went away: try again next time
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
