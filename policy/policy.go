// Package policy checks an evaluated inventory against governance rules:
// Cairn's built-in rules and the organisation's own rules in policies/*.cue.
// It turns what it finds into findings placed at file:line:col.
package policy

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cairnops/cairn/inventory"
)

// Severity is how much a finding matters.
type Severity string

// Severities, as set per rule by `rules: <id>: severity` in inventory.cue.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
	Off     Severity = "off"
)

// Finding is one governance problem.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Model    string   `json:"model,omitempty"`
	File     string   `json:"file,omitempty"`
	Line     int      `json:"line,omitempty"`
	Column   int      `json:"column,omitempty"`
	Message  string   `json:"message"`
}

// Pos returns the finding's place as an inventory.Position.
func (f Finding) Pos() inventory.Position {
	return inventory.Position{File: f.File, Line: f.Line, Column: f.Column}
}

// String returns "file:line:col: message (rule)", with "warning: " before
// the message of a warning.
func (f Finding) String() string {
	s := ""
	if f.File != "" {
		s = f.Pos().String() + ": "
	}
	if f.Severity == Warning {
		s += "warning: "
	}
	return s + f.Message + " (" + f.Rule + ")"
}

// Report is the result of Evaluate.
type Report struct {
	Revision string    `json:"revision"`
	Models   int       `json:"models"`
	Findings []Finding `json:"findings"`
	Summary  Summary   `json:"summary"`
}

// Add appends findings to the report and counts them in its summary.
func (r *Report) Add(fs ...Finding) {
	for _, f := range fs {
		r.Findings = append(r.Findings, f)
		switch f.Severity {
		case Error:
			r.Summary.Errors++
		case Warning:
			r.Summary.Warnings++
		}
	}
}

// Summary counts a report's findings.
type Summary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
}

// Options are the inputs of Evaluate beyond the inventory.
type Options struct {
	// Base is the inventory at the base revision, for the diff-aware rules;
	// nil skips them.
	Base *inventory.Inventory
	// Now is the time review-due compares with; zero means time.Now().
	Now time.Time
	// Policies are the organisation's rules, already run on the models by
	// their Visit during inventory.Load; nil means none.
	Policies *Policies
	// Proposed are the revision's own organisation rules when Policies
	// are the base revision's (see Governed): their compile problems are
	// reported and their ids are known to `rules:`, but they do not judge
	// the revision that proposes them.
	Proposed *Policies
	// Signatures checks the signature bundle of model@version against the
	// operator's trust roots and returns why it is not valid, or nil. The
	// signature rule runs only when it is set.
	Signatures func(model, version string) error
}

// Rule is a governance rule: built-in, or the organisation's own.
type Rule struct {
	ID          string   `json:"id"`
	Severity    Severity `json:"severity"`
	Description string   `json:"description"`
	// Source is the policy file of an organisation rule; empty for a
	// built-in rule.
	Source string `json:"source,omitempty"`
	// check returns findings without severity; Evaluate fills it in. Nil
	// for rules whose findings come from elsewhere (policy).
	check func(c *checkContext) []Finding
}

type checkContext struct {
	inv  *inventory.Inventory
	opts Options
}

// finding makes a finding of rule at pos.
func finding(rule, model string, pos inventory.Position, msg string) Finding {
	return Finding{Rule: rule, Model: model, File: pos.File, Line: pos.Line, Column: pos.Column, Message: msg}
}

// Rules returns a copy of the built-in rules in a stable order.
func Rules() []Rule { return slices.Clone(builtin) }

// Evaluate runs every built-in rule on inv, adds the findings of the
// organisation rules in opts.Policies, and returns them sorted by file and
// position, with the severities inventory.cue sets. The diff-aware rules run
// only when opts.Base is set. The error is ctx's.
func Evaluate(ctx context.Context, inv *inventory.Inventory, opts Options) (*Report, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	c := &checkContext{inv: inv, opts: opts}
	settings := inv.Settings
	if Governed(opts.Base) {
		settings = opts.Base.Settings
	}
	severity := func(id string, def Severity) Severity {
		if o, ok := settings.Rules[id]; ok && o.Severity != "" && !fixed[id] {
			return Severity(o.Severity)
		}
		return def
	}
	var findings []Finding
	add := func(f Finding, sev Severity) {
		if sev == Off {
			return
		}
		f.Severity = sev
		findings = append(findings, f)
	}
	// The built-in rules only read the inventory: they run side by side,
	// and their findings are added in the rules' order.
	results := make([][]Finding, len(builtin))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, r := range builtin {
		if severity(r.ID, r.Severity) == Off || r.check == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if ctx.Err() == nil {
				results[i] = r.check(c)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, r := range builtin {
		sev := severity(r.ID, r.Severity)
		for _, f := range results[i] {
			add(f, sev)
		}
	}
	findings = append(findings, unknownRules(inv, opts.Policies, opts.Proposed)...)
	if p := opts.Proposed; p != nil && p != opts.Policies {
		for _, f := range p.Findings() {
			add(f, severity(PolicyRule, Error))
		}
	}
	if p := opts.Policies; p != nil {
		sev := severity(PolicyRule, Error)
		for _, f := range p.Findings() {
			add(f, sev)
		}
		defaults := p.severities()
		for _, f := range p.findings(inv) {
			if f.Rule == PolicyRule {
				add(f, sev)
				continue
			}
			add(f, severity(f.Rule, defaults[f.Rule]))
		}
	}
	sort.SliceStable(findings, func(i, j int) bool {
		a, b := findings[i], findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Rule < b.Rule
	})
	rep := &Report{Revision: inv.Source.Revision, Models: len(inv.Models), Findings: findings}
	if rep.Findings == nil {
		rep.Findings = []Finding{}
	}
	for _, f := range findings {
		switch f.Severity {
		case Error:
			rep.Summary.Errors++
		case Warning:
			rep.Summary.Warnings++
		}
	}
	return rep, nil
}

// fixed are the rules whose severity `rules:` cannot change: schema, since
// a model that does not evaluate cannot be judged, and signature, since
// signing is switched off only by a reviewed change to signing.required.
var fixed = map[string]bool{"schema": true, SignatureRule: true}

// unknownRules reports `rules:` entries of inventory.cue that name no
// built-in or organisation rule: a misspelt id would otherwise leave the
// rule it meant at its default severity without a word. Only when the
// organisation rules are known (opts.Policies set) can every id be judged.
func unknownRules(inv *inventory.Inventory, pols ...*Policies) []Finding {
	if pols[0] == nil || !inv.SettingsOK {
		return nil
	}
	known := map[string]bool{}
	for _, r := range builtin {
		known[r.ID] = true
	}
	for _, p := range pols {
		if p == nil {
			continue
		}
		for _, r := range p.Rules() {
			known[r.ID] = true
		}
	}
	var out []Finding
	for _, id := range slices.Sorted(maps.Keys(inv.Settings.Rules)) {
		if o := inv.Settings.Rules[id]; fixed[id] && o.Severity != "" && o.Severity != string(Error) {
			msg := fmt.Sprintf("rules.%q: the %s rule cannot be softened or switched off", id, id)
			if id == SignatureRule {
				msg += "; to stop requiring signatures for a stage, remove it from signing.required"
			}
			f := finding("schema", "", inv.SettingsPos("rules", id, "severity"), msg)
			f.Severity = Error
			out = append(out, f)
			continue
		}
		if known[id] {
			continue
		}
		f := finding("schema", "", inv.SettingsPos("rules", id),
			fmt.Sprintf("rules.%q: no rule has this id (see cairn rules)", id))
		f.Severity = Error
		out = append(out, f)
	}
	return out
}

// Governed reports whether a revision compared with base is judged by the
// base's governance: its organisation rules (policies/) and the severities
// of its `rules:`. It is when base has an inventory. Like the CODEOWNERS of
// a pull request's base branch, this keeps a change from weakening the
// rules that judge it; what it changes in them applies once it is merged.
// A base without an inventory (the first one) leaves the revision its own.
func Governed(base *inventory.Inventory) bool {
	return base != nil && base.SettingsOK
}
