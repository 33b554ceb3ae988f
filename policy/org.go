package policy

import (
	"context"
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
}

type orgResult struct {
	rule string
	msg  string
}

// Load reads policies/*.cue of src and checks that each file compiles. A file
// that does not is a finding at its file:line (rule "policy") and its rules
// are left out; the other files still run. The error is for a policies
// folder that cannot be read. A missing folder yields empty Policies.
func Load(ctx context.Context, src *inventory.Source) (*Policies, error) {
	p := &Policies{compiled: map[*cue.Context]*compiledPolicies{}, results: map[string][]orgResult{}, evalErrs: map[string]Finding{}}
	entries, err := fs.ReadDir(src.FS, PoliciesDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		return nil, fmt.Errorf("reading %s: %w", PoliciesDir, err)
	}
	c := cuecontext.New()
	schemaV := c.CompileString(policySchema)
	if err := schemaV.Err(); err != nil {
		return nil, fmt.Errorf("compiling policy schema: %w", err)
	}
	seen := map[string]string{}
	for _, e := range builtin {
		seen[e.ID] = "built-in"
	}
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
		v, probs := compileFile(c, name, b, schemaV)
		if len(probs) > 0 {
			p.problems = append(p.problems, probs...)
			continue
		}
		pf := policyFile{name: name, src: b}
		it, err := v.LookupPath(cue.ParsePath("rules")).Fields()
		if err == nil {
			for it.Next() {
				id := it.Selector().Unquoted()
				rv := it.Value()
				if other, ok := seen[id]; ok {
					p.problems = append(p.problems, finding(PolicyRule, "", cuePos(rv.Pos(), name),
						fmt.Sprintf("rule %q is already defined (%s); give it another id", id, other)))
					continue
				}
				seen[id] = name
				var meta struct {
					Severity    Severity `json:"severity"`
					Description string   `json:"description"`
				}
				_ = rv.Decode(&meta)
				pf.rules = append(pf.rules, id)
				p.rules = append(p.rules, Rule{ID: id, Severity: meta.Severity, Description: meta.Description, Source: name})
			}
		}
		sort.Strings(pf.rules)
		p.files = append(p.files, pf)
	}
	sort.Slice(p.rules, func(i, j int) bool { return p.rules[i].ID < p.rules[j].ID })
	return p, nil
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
	cp := p.compiledFor(v.Context())
	var res []orgResult
	for _, r := range cp.rules {
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
			f := finding(PolicyRule, m.Name, pos,
				fmt.Sprintf("rule %q cannot be evaluated for model %s: %s; make deny a list of strings that every model can evaluate", r.id, m.Name, oneLine(err)))
			p.mu.Lock()
			// Keep one finding per rule, for the first model by name, so
			// that the report does not depend on evaluation order.
			if old, ok := p.evalErrs[r.id]; !ok || m.Name < old.Model {
				p.evalErrs[r.id] = f
			}
			p.mu.Unlock()
			continue
		}
		for _, msg := range msgs {
			res = append(res, orgResult{rule: r.id, msg: msg})
		}
	}
	if len(res) > 0 {
		p.mu.Lock()
		p.results[m.Name] = res
		p.mu.Unlock()
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
			cp.rules = append(cp.rules, compiledRule{id: id, file: f.name, v: rv})
		}
	}
	limit := 2*runtime.GOMAXPROCS(0) + 2
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
