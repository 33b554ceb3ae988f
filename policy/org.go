package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"github.com/cairnops/cairn/inventory"
)

// PoliciesDir is the folder of the organisation's own rules.
const PoliciesDir = "policies"

// PolicyRule is the id of findings about the policy files themselves: a file
// that does not compile, a rule that cannot be evaluated.
const PolicyRule = "policy"

// ApprovalsRule is the id of the rule that each stage change of a pull
// request has its approvals. Evaluate lists it but does not check it: that
// takes the pull request's reviews, which `cairn ci` reads.
const ApprovalsRule = "approvals"

// policySchema is what every policies/*.cue file unifies with.
const policySchema = `
rules?: [string]: {
	severity:    *"error" | "warning" | "off"
	description: *"" | string
	model:       _
	deny?:       [...]
}
`

// Policies are the organisation's rules of one inventory, read from
// policies/*.cue. Pass Visit as inventory.Options.Visit when loading the
// inventory under validation and the Policies as Options.Policies to
// Evaluate: Visit runs the rules on each model's live value while the model
// is evaluated, and Evaluate reports what they denied. A Policies collects
// the results of one Load; use a fresh one for each.
type Policies struct {
	files []policyFile
	rules []Rule
	// problems are findings about the policy files, found by Load.
	problems []Finding

	// mu guards compiled, order, results and evalErrs.
	mu       sync.Mutex
	compiled map[*cue.Context]*compiledPolicies
	order    []*cue.Context
	results  map[string][]orgResult
	evalErrs map[string]Finding
	// oneContext keeps the rules compiled in one cue.Context only: a
	// worker evaluates in one context at a time.
	oneContext bool
}

type policyFile struct {
	name  string
	src   []byte
	rules []string // rule ids defined in this file, sorted
}

type compiledPolicies struct {
	rules []compiledRule
}

type compiledRule struct {
	id   string
	file string
	v    cue.Value
	note []byte // JSON ruleNote, for a VisitFunc's note
}

// ruleNote says which rule a worker is running, should it not finish.
type ruleNote struct {
	ID  string             `json:"id"`
	Pos inventory.Position `json:"pos"`
}

type orgResult struct {
	rule string
	msg  string
}

// Load reads policies/*.cue of src and checks that each file compiles. A file
// that does not is a finding at its file:line (rule "policy") and its rules
// are left out; the other files still run. The error is for a policies
// folder that cannot be read. A missing folder yields empty Policies. Load
// compiles in-process, without bounds; LoadIsolated bounds each file.
func Load(ctx context.Context, src *inventory.Source) (*Policies, error) {
	return LoadIsolated(ctx, src, nil)
}

// LoadIsolated is Load with each file compiled in a worker process of iso
// under its budget; a file that passes the budget is a finding at the file
// (rule "policy"). A nil iso compiles in-process, as Load. Pass
// Policies.Visitor, not Visit, to an inventory.Load with the same Isolation.
func LoadIsolated(ctx context.Context, src *inventory.Source, iso *inventory.Isolation) (*Policies, error) {
	p := &Policies{compiled: map[*cue.Context]*compiledPolicies{}, results: map[string][]orgResult{}, evalErrs: map[string]Finding{}}
	entries, err := fs.ReadDir(src.FS, PoliciesDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		return nil, fmt.Errorf("reading %s: %w", PoliciesDir, err)
	}
	var files []policySource
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".cue") {
			continue
		}
		name := path.Join(PoliciesDir, e.Name())
		b, err := fs.ReadFile(src.FS, name)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		files = append(files, policySource{Name: name, Src: string(b)})
	}
	compiled, err := compileAll(ctx, files, iso)
	if err != nil {
		return nil, err
	}
	seen := map[string]string{}
	for _, e := range builtin {
		seen[e.ID] = "built-in"
	}
	for i, f := range files {
		cf := compiled[i]
		if len(cf.Problems) > 0 {
			p.problems = append(p.problems, cf.Problems...)
			continue
		}
		pf := policyFile{name: f.Name, src: []byte(f.Src)}
		for _, r := range cf.Rules {
			if other, ok := seen[r.ID]; ok {
				p.problems = append(p.problems, finding(PolicyRule, "", r.Pos,
					fmt.Sprintf("rule %q is already defined (%s); give it another id", r.ID, other)))
				continue
			}
			seen[r.ID] = f.Name
			pf.rules = append(pf.rules, r.ID)
			p.rules = append(p.rules, Rule{ID: r.ID, Severity: r.Severity, Description: r.Description, Source: f.Name})
		}
		sort.Strings(pf.rules)
		p.files = append(p.files, pf)
	}
	sort.Slice(p.rules, func(i, j int) bool { return p.rules[i].ID < p.rules[j].ID })
	return p, nil
}

// policySource is a policy file as a worker receives it.
type policySource struct {
	Name  string   `json:"name"`
	Src   string   `json:"src"`
	Rules []string `json:"rules,omitempty"`
}

// compiledFile is what compiling one policy file gives: its problems, or
// its rules in file order.
type compiledFile struct {
	Problems []Finding     `json:"problems,omitempty"`
	Rules    []compiledDef `json:"rules,omitempty"`
}

type compiledDef struct {
	ID          string             `json:"id"`
	Severity    Severity           `json:"severity"`
	Description string             `json:"description"`
	Pos         inventory.Position `json:"pos"`
}

// compileJob is the name of the worker job that compiles one policy file.
const compileJob = "policy.compile"

func init() {
	inventory.RegisterJob(compileJob, func(in []byte) ([]byte, error) {
		var f policySource
		if err := json.Unmarshal(in, &f); err != nil {
			return nil, err
		}
		cf, err := compileSource(cuecontext.New(), f)
		if err != nil {
			return nil, err
		}
		return json.Marshal(cf)
	})
	inventory.RegisterVisitor(visitorName, newWorkerVisit)
}

// compileAll compiles files in one context, or each in a worker of iso.
func compileAll(ctx context.Context, files []policySource, iso *inventory.Isolation) ([]compiledFile, error) {
	out := make([]compiledFile, len(files))
	if iso == nil {
		c := cuecontext.New()
		for i, f := range files {
			cf, err := compileSource(c, f)
			if err != nil {
				return nil, err
			}
			out[i] = cf
		}
		return out, nil
	}
	inputs := make([][]byte, len(files))
	for i, f := range files {
		b, err := json.Marshal(f)
		if err != nil {
			return nil, err
		}
		inputs[i] = b
	}
	res, err := iso.Run(ctx, compileJob, inputs...)
	if err != nil {
		return nil, err
	}
	for i, r := range res {
		if r.Err == nil {
			r.Err = json.Unmarshal(r.Output, &out[i])
		}
		if r.Err != nil {
			msg := r.Err.Error()
			var be *inventory.BudgetError
			if errors.As(r.Err, &be) {
				msg = be.Advice("the policy")
			}
			out[i] = compiledFile{Problems: []Finding{finding(PolicyRule, "", inventory.Position{File: files[i].Name, Line: 1, Column: 1}, msg)}}
		}
	}
	return out, nil
}

// compileSource compiles one policy file in c and lists its rules.
func compileSource(c *cue.Context, f policySource) (compiledFile, error) {
	schemaV := c.CompileString(policySchema)
	if err := schemaV.Err(); err != nil {
		return compiledFile{}, fmt.Errorf("compiling policy schema: %w", err)
	}
	v, probs := compileFile(c, f.Name, []byte(f.Src), schemaV)
	if len(probs) > 0 {
		return compiledFile{Problems: probs}, nil
	}
	var out compiledFile
	it, err := v.LookupPath(cue.ParsePath("rules")).Fields()
	if err == nil {
		for it.Next() {
			rv := it.Value()
			var meta struct {
				Severity    Severity `json:"severity"`
				Description string   `json:"description"`
			}
			_ = rv.Decode(&meta)
			out.Rules = append(out.Rules, compiledDef{ID: it.Selector().Unquoted(), Severity: meta.Severity,
				Description: meta.Description, Pos: cuePos(rv.Pos(), f.Name)})
		}
	}
	return out, nil
}

// compileFile parses and builds one policy file in c and unifies it with the
// policy schema; problems are findings at the file's positions.
func compileFile(c *cue.Context, name string, src []byte, schemaV cue.Value) (cue.Value, []Finding) {
	fallback := inventory.Position{File: name, Line: 1, Column: 1}
	f, err := parser.ParseFile(name, src, parser.ParseComments)
	if err != nil {
		return cue.Value{}, errFindings(err, name, fallback)
	}
	if pkg := f.PackageName(); pkg != "policy" {
		return cue.Value{}, []Finding{finding(PolicyRule, "", fallback,
			fmt.Sprintf("package %q: policy files are package policy", pkg))}
	}
	v := c.BuildFile(f)
	if err := v.Err(); err != nil {
		return cue.Value{}, errFindings(err, name, fallback)
	}
	v = v.Unify(schemaV)
	if err := v.Validate(); err != nil {
		return cue.Value{}, errFindings(err, name, fallback)
	}
	return v, nil
}

// errFindings turns a CUE error into one finding in file name: at the first
// error placed in the file, with its message.
func errFindings(err error, name string, fallback inventory.Position) []Finding {
	errs := cueerrors.Errors(err)
	if len(errs) == 0 {
		return []Finding{finding(PolicyRule, "", fallback, "policy does not compile: "+err.Error())}
	}
	pick, pos := errs[0], fallback
search:
	for _, e := range errs {
		for _, cp := range append([]token.Pos{e.Position()}, e.InputPositions()...) {
			if cp.IsValid() && cp.Filename() == name {
				pick, pos = e, cuePos(cp, name)
				break search
			}
		}
	}
	msg := errMessage(pick, errs)
	if p := strings.Join(pick.Path(), "."); p != "" {
		msg = p + ": " + msg
	}
	return []Finding{finding(PolicyRule, "", pos, "policy does not compile: "+msg)}
}

// errMessage formats e; conflicts of one value with every alternative of a
// disjunction become "X is not allowed, want A | B".
func errMessage(e cueerrors.Error, all []cueerrors.Error) string {
	format, args := e.Msg()
	if format != "conflicting values %s and %s" || len(args) != 2 {
		return fmt.Sprintf(format, args...)
	}
	path := strings.Join(e.Path(), ".")
	count := map[string]int{}
	var pairs [][2]string
	for _, o := range all {
		f, a := o.Msg()
		if f == format && len(a) == 2 && strings.Join(o.Path(), ".") == path {
			x, y := fmt.Sprint(a[0]), fmt.Sprint(a[1])
			count[x]++
			count[y]++
			pairs = append(pairs, [2]string{x, y})
		}
	}
	if len(pairs) < 2 {
		return fmt.Sprintf(format, args...)
	}
	for got, n := range count {
		if n != len(pairs) {
			continue
		}
		var want []string
		for _, pr := range pairs {
			if pr[0] == got {
				want = append(want, pr[1])
			} else {
				want = append(want, pr[0])
			}
		}
		return fmt.Sprintf("%s is not allowed, want %s", got, strings.Join(want, " | "))
	}
	return fmt.Sprintf(format, args...)
}

// errPos returns the first position of err in file name.
func errPos(err error, name string) (inventory.Position, bool) {
	for _, e := range cueerrors.Errors(err) {
		for _, cp := range append([]token.Pos{e.Position()}, e.InputPositions()...) {
			if cp.IsValid() && cp.Filename() == name {
				return cuePos(cp, name), true
			}
		}
	}
	return inventory.Position{}, false
}

func cuePos(p token.Pos, fallback string) inventory.Position {
	if !p.IsValid() || p.Filename() == "" {
		return inventory.Position{File: fallback, Line: 1, Column: 1}
	}
	return inventory.Position{File: p.Filename(), Line: p.Line(), Column: p.Column()}
}

// Rules returns the organisation's rules, sorted by id, with Source set.
func (p *Policies) Rules() []Rule {
	if p == nil {
		return nil
	}
	return p.rules
}

// Findings returns the problems Load found in the policy files.
func (p *Policies) Findings() []Finding {
	if p == nil {
		return nil
	}
	return p.problems
}

// Visit runs every organisation rule on one model's live value v; it has
// the signature of inventory.Options.Visit and is safe for concurrent use.
// The policies are compiled once per cue.Context of v, since values of
// different contexts cannot be combined.
func (p *Policies) Visit(m *inventory.Model, v cue.Value) {
	if p == nil || len(p.files) == 0 {
		return
	}
	p.store(m.Name, p.run(m, v, nil))
}

// visitorName is the name of the Policies' inventory.Visitor.
const visitorName = "policy"

// Visitor returns the Policies as an inventory.Visitor, which runs the
// rules where each model is evaluated, in a worker process too, and stores
// what they deny in p for Evaluate; nil when there are no rules to run.
func (p *Policies) Visitor() *inventory.Visitor {
	if p == nil || len(p.files) == 0 {
		return nil
	}
	cfg := make([]policySource, len(p.files))
	for i, f := range p.files {
		cfg[i] = policySource{Name: f.name, Src: string(f.src), Rules: f.rules}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil // strings only: cannot fail
	}
	return &inventory.Visitor{Name: visitorName, Config: b, Collect: p.collect}
}

// visitResult is what the rules gave for one model.
type visitResult struct {
	Results []wireResult `json:"results,omitempty"`
	Errs    []ruleErr    `json:"errs,omitempty"`
}

type wireResult struct {
	Rule string `json:"rule"`
	Msg  string `json:"msg"`
}

// ruleErr is a rule that could not be evaluated for the model.
type ruleErr struct {
	ID      string  `json:"id"`
	Finding Finding `json:"finding"`
}

// newWorkerVisit makes the Policies of a Visitor's config in the process
// that evaluates the models.
func newWorkerVisit(config []byte) (inventory.VisitFunc, error) {
	var files []policySource
	if err := json.Unmarshal(config, &files); err != nil {
		return nil, fmt.Errorf("policy visitor: %w", err)
	}
	p := &Policies{compiled: map[*cue.Context]*compiledPolicies{}, oneContext: true}
	for _, f := range files {
		p.files = append(p.files, policyFile{name: f.Name, src: []byte(f.Src), rules: f.Rules})
	}
	return func(m *inventory.Model, v cue.Value, note func([]byte)) []byte {
		r := p.run(m, v, note)
		out := visitResult{Errs: r.errs}
		for _, x := range r.results {
			out.Results = append(out.Results, wireResult{Rule: x.rule, Msg: x.msg})
		}
		b, _ := json.Marshal(out)
		return b
	}, nil
}

// collect stores the result of the rules on model, sent by a worker.
func (p *Policies) collect(model string, result []byte, err error) {
	if err != nil {
		// The rules did not finish on this model, and the visitor is not
		// run on the rest: a finding at the rule that was running, which
		// result names, else at the first policy file.
		msg := err.Error()
		var be *inventory.BudgetError
		var rn ruleNote
		if json.Unmarshal(result, &rn) != nil || rn.ID == "" {
			if errors.As(err, &be) {
				msg = be.Advice("the rules")
			}
			f := finding(PolicyRule, model, inventory.Position{File: p.files[0].name, Line: 1, Column: 1},
				fmt.Sprintf("organisation rules cannot be evaluated for model %s: %s", model, msg))
			p.store(model, ruleRun{errs: []ruleErr{{ID: "", Finding: f}}})
			return
		}
		if errors.As(err, &be) {
			msg = be.Advice("the rule")
		}
		f := finding(PolicyRule, model, rn.Pos, fmt.Sprintf("rule %q cannot be evaluated for model %s: %s", rn.ID, model, msg))
		p.store(model, ruleRun{errs: []ruleErr{{ID: rn.ID, Finding: f}}})
		return
	}
	var vr visitResult
	if err := json.Unmarshal(result, &vr); err != nil {
		return
	}
	r := ruleRun{errs: vr.Errs}
	for _, x := range vr.Results {
		r.results = append(r.results, orgResult{rule: x.Rule, msg: x.Msg})
	}
	p.store(model, r)
}

// ruleRun is what the rules gave for one model.
type ruleRun struct {
	results []orgResult
	errs    []ruleErr
}

// run evaluates every rule on model m's value v, calling note, when set,
// before each.
func (p *Policies) run(m *inventory.Model, v cue.Value, note func([]byte)) ruleRun {
	cp := p.compiledFor(v.Context())
	var out ruleRun
	for _, r := range cp.rules {
		if note != nil {
			note(r.note)
		}
		deny := r.v.FillPath(cue.MakePath(cue.Str("model")), v).LookupPath(cue.MakePath(cue.Str("deny")))
		if !deny.Exists() {
			continue
		}
		msgs, err := denyMessages(deny)
		if err != nil {
			pos := cuePos(r.v.Pos(), r.file)
			if ep, ok := errPos(err, r.file); ok {
				pos = ep
			}
			out.errs = append(out.errs, ruleErr{ID: r.id, Finding: finding(PolicyRule, m.Name, pos,
				fmt.Sprintf("rule %q cannot be evaluated for model %s: %s; make deny a list of strings that every model can evaluate", r.id, m.Name, oneLine(err)))})
			continue
		}
		for _, msg := range msgs {
			out.results = append(out.results, orgResult{rule: r.id, msg: msg})
		}
	}
	return out
}

// store records what the rules gave for model.
func (p *Policies) store(model string, r ruleRun) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range r.errs {
		// Keep one finding per rule, for the first model by name, so
		// that the report does not depend on evaluation order.
		if old, ok := p.evalErrs[e.ID]; !ok || model < old.Model {
			p.evalErrs[e.ID] = e.Finding
		}
	}
	if len(r.results) > 0 {
		p.results[model] = r.results
	}
}

func denyMessages(deny cue.Value) ([]string, error) {
	it, err := deny.List()
	if err != nil {
		return nil, err
	}
	var out []string
	for it.Next() {
		s, err := it.Value().String()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func oneLine(err error) string {
	errs := cueerrors.Errors(err)
	if len(errs) == 0 {
		return err.Error()
	}
	format, args := errs[0].Msg()
	msg := fmt.Sprintf(format, args...)
	if p := strings.Join(errs[0].Path(), "."); p != "" {
		msg = p + ": " + msg
	}
	return msg
}

// compiledFor returns the policies compiled in c, compiling them on first
// use. It keeps a few contexts only: the inventory recycles contexts to free
// memory, and holding on to old ones would defeat that.
func (p *Policies) compiledFor(c *cue.Context) *compiledPolicies {
	p.mu.Lock()
	cp, ok := p.compiled[c]
	p.mu.Unlock()
	if ok {
		return cp
	}
	cp = &compiledPolicies{}
	for _, f := range p.files {
		file, err := parser.ParseFile(f.name, f.src, parser.ParseComments)
		if err != nil {
			continue // Load checked it; cannot happen for the same bytes.
		}
		v := c.BuildFile(file)
		if v.Err() != nil {
			continue
		}
		for _, id := range f.rules {
			rv := v.LookupPath(cue.MakePath(cue.Str("rules"), cue.Str(id)))
			note, _ := json.Marshal(ruleNote{ID: id, Pos: cuePos(rv.Pos(), f.name)})
			cp.rules = append(cp.rules, compiledRule{id: id, file: f.name, v: rv, note: note})
		}
	}
	limit := 2*runtime.GOMAXPROCS(0) + 2
	if p.oneContext {
		limit = 1
	}
	p.mu.Lock()
	p.compiled[c] = cp
	p.order = append(p.order, c)
	for len(p.order) > limit {
		delete(p.compiled, p.order[0])
		p.order = p.order[1:]
	}
	p.mu.Unlock()
	return cp
}

// findings returns the organisation rules' findings for the models of inv,
// placed at the field path a message starts with ("card.owners: ...") when
// it names one, else at the model's first file. Severity is left to Evaluate.
func (p *Policies) findings(inv *inventory.Inventory) []Finding {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Finding
	for _, m := range inv.Models {
		for _, r := range p.results[m.Name] {
			out = append(out, finding(r.rule, m.Name, m.Pos(messagePath(r.msg)...), r.msg))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(p.evalErrs)) {
		out = append(out, p.evalErrs[id])
	}
	return out
}

// messagePath returns the field path a message starts with, as in
// `card.owners: ...` or `versions."2.3.0".artifact: ...`, or nil.
func messagePath(msg string) []string {
	i := strings.Index(msg, ": ")
	if i <= 0 {
		return nil
	}
	var parts []string
	var cur strings.Builder
	quoted := false
	for _, r := range msg[:i] {
		switch {
		case r == '"':
			quoted = !quoted
		case r == '.' && !quoted:
			if cur.Len() == 0 {
				return nil
			}
			parts = append(parts, cur.String())
			cur.Reset()
		case !quoted && (r == ' ' || r == '\t'):
			return nil
		default:
			cur.WriteRune(r)
		}
	}
	if quoted || cur.Len() == 0 {
		return nil
	}
	return append(parts, cur.String())
}

// severities returns the default severity of every rule id Evaluate knows:
// built-in and organisation rules.
func (p *Policies) severities() map[string]Severity {
	out := map[string]Severity{}
	for _, r := range p.Rules() {
		out[r.ID] = r.Severity
	}
	return out
}
