// Package page renders the inventory as HTML: an index of every model with
// search, filters and paging, and a page per model with its card, versions,
// stage pins, monitors, history and signatures. The daemon serves the pages
// with its live state (Live); `cairn export --format html` writes the same
// pages as a static site. Both go through Build and the same templates: one
// renderer, two outputs.
package page

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/remedy"
)

// States a model can be in, the values of the index's state filter, worst
// first: a model is in the first state its evidence gives it.
const (
	StateInvalid = "invalid" // the model does not unify with the schema
	StateBreach  = "breach"  // a monitor is breached
	StateDrift   = "drift"   // a target does not hold what git pins
	StateError   = "error"   // a monitor could not be evaluated
	StatePending = "pending" // a monitor is out of bounds for less than a window
	StateRetired = "retired" // retired, nothing else wrong
	StateOK      = "ok"
)

// States lists the states in the order the filter offers them.
var States = []string{StateOK, StatePending, StateBreach, StateError, StateDrift, StateInvalid, StateRetired}

// Evidence is what is known of an inventory beyond its files: the last
// apply's result (the gate's signature verdicts), the last drift report and
// the last monitor evaluation. The zero Evidence is a static export's.
type Evidence struct {
	// Result is the last apply's result; its signatures count only when
	// its Revision is the inventory's.
	Result *reconciler.Result
	// Drift is the last drift report; nil when targets were not observed.
	Drift *reconciler.DriftReport
	// Monitors are the findings of the last monitor evaluation, at
	// MonitorsAt; a zero MonitorsAt means monitors were never evaluated.
	Monitors   []remedy.Finding
	MonitorsAt time.Time
}

// Inventory is an inventory made ready to render: one Summary per model,
// in the inventory's (name) order. Build it once per state change; it is
// read-only afterwards and safe for concurrent renders.
type Inventory struct {
	inv     *inventory.Inventory
	ev      Evidence
	Models  []*Summary
	byName  map[string]*Summary
	Risks   []string // the risk tiers in use, sorted
	checks  map[string]gate.Signature
	targets []string // target names, sorted
}

// Summary is one model as the index lists it.
type Summary struct {
	Name, Title, Risk string
	Owners            []string
	Valid, Retired    bool
	// Pins are the stage pins in the inventory's stage order.
	Pins []Pin
	// State is the model's state (one of States); Why says what made it so.
	State, Why string
	// Signatures is the signature state of each pinned version, once each.
	Signatures []Pin
	model      *inventory.Model
	search     string // lower-cased name, title, owners and description
}

// Pin is a version with the stage that pins it or its signature state.
type Pin struct {
	Stage, Version, Signature string
}

// Build returns inv ready to render with the evidence ev.
func Build(inv *inventory.Inventory, ev Evidence) *Inventory {
	p := &Inventory{inv: inv, ev: ev, byName: make(map[string]*Summary, len(inv.Models)), checks: map[string]gate.Signature{}}
	if ev.Result != nil && ev.Result.Revision == inv.Source.Revision {
		for _, c := range ev.Result.Signatures {
			p.checks[c.Model+"@"+c.Version] = c
		}
	}
	for n := range inv.Settings.Targets {
		p.targets = append(p.targets, n)
	}
	slices.Sort(p.targets)
	worst := map[string]struct{ state, why string }{}
	rank := func(s string) int {
		return slices.Index([]string{StateInvalid, StateBreach, StateDrift, StateError, StatePending}, s)
	}
	mark := func(model, state, why string) {
		if cur, ok := worst[model]; !ok || rank(state) < rank(cur.state) {
			worst[model] = struct{ state, why string }{state, why}
		}
	}
	if ev.Drift != nil {
		for _, f := range ev.Drift.Findings {
			if !f.Healed {
				mark(f.Model, StateDrift, f.Kind+" on "+f.Target)
			}
		}
	}
	for _, f := range ev.Monitors {
		switch f.Kind {
		case remedy.KindMonitorBreach:
			mark(f.Model, StateBreach, "monitor "+f.Monitor+" breached")
		case remedy.KindMonitorError:
			mark(f.Model, StateError, "monitor "+f.Monitor+" could not be evaluated")
		case remedy.KindMonitorPending:
			mark(f.Model, StatePending, "monitor "+f.Monitor+" out of bounds, not yet decided")
		}
	}
	risks := map[string]bool{}
	p.Models = make([]*Summary, 0, len(inv.Models))
	for _, m := range inv.Models {
		s := &Summary{Name: m.Name, Title: m.Card.Title, Risk: m.Card.Risk.Tier, Owners: m.Card.Owners,
			Valid: m.Valid, Retired: m.Retired, model: m, State: StateOK}
		if s.Risk != "" {
			risks[s.Risk] = true
		}
		seen := map[string]bool{}
		for _, st := range p.stages(m) {
			v := m.Stages[st]
			s.Pins = append(s.Pins, Pin{Stage: st, Version: v})
			if !seen[v] {
				seen[v] = true
				s.Signatures = append(s.Signatures, Pin{Version: v, Signature: p.signatureState(m.Name, v)})
			}
		}
		switch w, ok := worst[m.Name]; {
		case !m.Valid:
			s.State, s.Why = StateInvalid, "the model has schema problems"
		case ok:
			s.State, s.Why = w.state, w.why
		case m.Retired:
			s.State, s.Why = StateRetired, "retired"
		}
		s.search = strings.ToLower(strings.Join(append([]string{m.Name, m.Card.Title, m.Card.Description}, m.Card.Owners...), "\x00"))
		p.Models = append(p.Models, s)
		p.byName[m.Name] = s
	}
	p.Risks = slices.Sorted(func(yield func(string) bool) {
		for r := range risks {
			if !yield(r) {
				return
			}
		}
	})
	return p
}

// stages returns the stages m pins, in the inventory's stage order, then
// unknown stages by name.
func (p *Inventory) stages(m *inventory.Model) []string {
	order := p.inv.Settings.Stages
	out := make([]string, 0, len(m.Stages))
	for s := range m.Stages {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b string) int {
		ia, ib := slices.Index(order, a), slices.Index(order, b)
		if ia < 0 {
			ia = len(order)
		}
		if ib < 0 {
			ib = len(order)
		}
		return cmp.Or(cmp.Compare(ia, ib), cmp.Compare(a, b))
	})
	return out
}

// signatureState is the signature state of model@version as the last
// apply's gate verified it, else whether a bundle exists in the inventory.
func (p *Inventory) signatureState(model, version string) string {
	if c, ok := p.checks[model+"@"+version]; ok {
		switch c.Status {
		case gate.SignatureOK:
			return "verified: " + c.Identity
		case gate.SignatureInvalid:
			return "invalid: " + c.Reason
		}
	}
	if _, err := p.inv.Source.ReadFile(inventory.BundlePath(model, version)); err == nil {
		return "signed (not verified)"
	}
	return "unsigned"
}

// Query is what the index shows: a search, filters and a page.
type Query struct {
	// Q matches, case-insensitively, a substring of the name, title,
	// description or an owner.
	Q string
	// Stage keeps models that pin a version at this stage.
	Stage string
	// Risk keeps models of this risk tier.
	Risk string
	// State keeps models in this state (one of States).
	State string
	// Page is the 1-based page; out of range it is clamped.
	Page int
	// PerPage is the page size; out of [1, MaxPerPage] it is DefaultPerPage.
	PerPage int
}

// Page sizes of the index.
const (
	DefaultPerPage = 50
	MaxPerPage     = 500
)

// ParseQuery reads a Query from URL query values; it never fails: an
// unparsable page or size falls back to the first page and the default size.
func ParseQuery(get func(string) string) Query {
	q := Query{Q: strings.TrimSpace(get("q")), Stage: get("stage"), Risk: get("risk"), State: get("state")}
	q.Page, _ = strconv.Atoi(get("page"))
	q.PerPage, _ = strconv.Atoi(get("per"))
	return q
}

// Result is one page of the index.
type Result struct {
	Query
	Models []*Summary
	// Matched is how many models match; Total is how many there are.
	Matched, Total int
	// Pages is the number of pages (at least 1); First and Last are the
	// 1-based positions of the page's first and last model.
	Pages, First, Last int
}

// Find returns the page of models that match q, q's page clamped to the
// pages there are.
func (p *Inventory) Find(q Query) Result {
	if q.PerPage < 1 || q.PerPage > MaxPerPage {
		q.PerPage = DefaultPerPage
	}
	needle := strings.ToLower(q.Q)
	var matched []*Summary
	for _, s := range p.Models {
		if needle != "" && !strings.Contains(s.search, needle) ||
			q.Risk != "" && s.Risk != q.Risk ||
			q.State != "" && s.State != q.State ||
			q.Stage != "" && !pins(s, q.Stage) {
			continue
		}
		matched = append(matched, s)
	}
	r := Result{Matched: len(matched), Total: len(p.Models)}
	r.Pages = max(1, (len(matched)+q.PerPage-1)/q.PerPage)
	q.Page = min(max(q.Page, 1), r.Pages)
	r.Query = q
	lo := (q.Page - 1) * q.PerPage
	hi := min(lo+q.PerPage, len(matched))
	r.Models = matched[lo:hi]
	if hi > lo {
		r.First, r.Last = lo+1, hi
	}
	return r
}

func pins(s *Summary, stage string) bool {
	for _, p := range s.Pins {
		if p.Stage == stage {
			return true
		}
	}
	return false
}

// Model returns the summary of the named model, nil when there is none.
func (p *Inventory) Model(name string) *Summary { return p.byName[name] }

// Stages returns the inventory's stages.
func (p *Inventory) Stages() []string { return p.inv.Settings.Stages }

// compareVersions orders dotted versions numerically where they are
// numbers ("1.10.0" after "1.9.0"), else as strings.
func compareVersions(a, b string) int {
	as, bs := strings.FieldsFunc(a, isSep), strings.FieldsFunc(b, isSep)
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if errx == nil && erry == nil {
			if c := cmp.Compare(x, y); c != 0 {
				return c
			}
			continue
		}
		if c := cmp.Compare(as[i], bs[i]); c != 0 {
			return c
		}
	}
	return cmp.Or(cmp.Compare(len(as), len(bs)), cmp.Compare(a, b))
}

func isSep(r rune) bool { return r == '.' || r == '-' || r == '+' }
