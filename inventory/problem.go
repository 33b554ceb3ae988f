package inventory

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/cairnops/cairn/schema"
)

// Position is a place in an inventory file. Line and Column are 1-based;
// zero when the place is a folder rather than a file.
type Position struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// String returns "file:line:col", or just the file when there is no line.
func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// IsValid reports whether p names a file.
func (p Position) IsValid() bool { return p.File != "" }

func positionOf(p token.Pos) Position {
	if !p.IsValid() || p.Filename() == "" || strings.HasPrefix(p.Filename(), schema.FilePrefix) {
		return Position{}
	}
	return Position{File: p.Filename(), Line: p.Line(), Column: p.Column()}
}

// Problem is a schema problem of the inventory: a file that does not parse,
// a value that does not unify with the schema, a missing field, a name or a
// path that is not allowed.
type Problem struct {
	// Model is the model the problem belongs to; empty for inventory.cue.
	Model   string
	Pos     Position
	Message string
}

func (p Problem) String() string { return p.Pos.String() + ": " + p.Message }

// cueProblems turns a CUE error into problems, one per path, placed in the
// inventory's files rather than the schema's. data is the inventory's own
// value (before unification with the schema), used to place errors whose
// only positions are in the schema; fallback places the rest.
func cueProblems(model string, err error, data cue.Value, fallback Position) []Problem {
	return placer{model: model, data: data, fallback: fallback}.cueProblems(err)
}

// placer places the problems of one evaluation. For a model, own indexes
// where the model's own files (not the shared defaults) set each path, and
// dir is its folder: a problem of the model is placed in its own files
// where they set the value at fault, and otherwise, when its position is
// in a shared file, names the model in its message.
type placer struct {
	model    string
	data     cue.Value
	fallback Position
	dir      string
	own      map[string]Position
	// reported holds the paths problems were placed at, for unreported.
	reported map[string]bool
}

// modelPlacer returns the placer of model m, whose parsed files are files.
func modelPlacer(m *Model, data cue.Value, files []*ast.File, first Position) placer {
	var own []*ast.File
	for _, f := range files {
		if path.Dir(f.Filename) == m.Dir {
			own = append(own, f)
		}
	}
	return placer{model: m.Name, data: data, fallback: first, dir: m.Dir, own: astPositions(own), reported: map[string]bool{}}
}

// unreported returns the problems of err at paths that no problem placed
// so far covers (neither the path nor one enclosing it): CUE reports some
// errors, such as a reference cycle, only in its concrete pass.
func (pl placer) unreported(err error) []Problem {
	var out []Problem
	for _, p := range pl.cueProblemsAt(err, func(at []string) bool {
		for i := len(at); i > 0; i-- {
			if pl.reported[strings.Join(at[:i], "\x00")] {
				return false
			}
		}
		return true
	}) {
		out = append(out, p)
	}
	return out
}

func (pl placer) cueProblems(err error) []Problem {
	return pl.cueProblemsAt(err, func([]string) bool { return true })
}

// cueProblemsAt is cueProblems for the paths keep accepts.
func (pl placer) cueProblemsAt(err error, keep func(at []string) bool) []Problem {
	type group struct {
		path  string
		errs  []errors.Error
		order int
	}
	var groups []*group
	byPath := map[string]*group{}
	for _, e := range errors.Errors(err) {
		p := strings.Join(e.Path(), ".")
		g := byPath[p]
		if g == nil {
			g = &group{path: p, order: len(groups)}
			byPath[p] = g
			groups = append(groups, g)
		}
		g.errs = append(g.errs, e)
	}
	var out []Problem
	for _, g := range groups {
		pos := Position{}
		for _, e := range g.errs {
			if pos = firstInputPosition(e); pos.IsValid() {
				break
			}
		}
		at := unquote(g.errs[0].Path())
		if !keep(at) {
			continue
		}
		if !pos.IsValid() {
			pos = pl.ownPosition(at, false)
		}
		if !pos.IsValid() {
			pos = dataPosition(pl.data, g.errs[0].Path())
		}
		if !pos.IsValid() {
			pos = pl.fallback
		}
		out = append(out, pl.problem(at, pos, groupMessage(g.path, g.errs, pl.data)))
	}
	return out
}

// ownPosition is where the model's own files set path, or with enclosing
// its closest enclosing value they set; invalid for settings or when they
// set none.
func (pl placer) ownPosition(at []string, enclosing bool) Position {
	if pl.own == nil {
		return Position{}
	}
	for i := len(at); i > 0; i-- {
		if p, ok := pl.own[strings.Join(at[:i], "\x00")]; ok {
			return p
		}
		if !enclosing {
			break
		}
	}
	return Position{}
}

// problem places one problem of the evaluation at path at: a model's
// problem outside the model's folder moves to its own files when they set
// the value, and otherwise names the model.
func (pl placer) problem(at []string, pos Position, msg string) Problem {
	if pl.reported != nil {
		pl.reported[strings.Join(at, "\x00")] = true
	}
	if pl.own != nil && path.Dir(pos.File) != pl.dir {
		if p := pl.ownPosition(at, false); p.IsValid() {
			pos = p
		} else if pos.IsValid() {
			msg = "model " + pl.model + ": " + msg
		}
	}
	if !pos.IsValid() {
		pos = pl.fallback
	}
	return Problem{Model: pl.model, Pos: pos, Message: msg}
}

// unquote turns CUE's error path into labels: "\"1.0.0\"" becomes "1.0.0".
func unquote(p []string) []string {
	out := make([]string, len(p))
	for i, l := range p {
		if u, err := strconv.Unquote(l); err == nil && strings.HasPrefix(l, `"`) {
			l = u
		}
		out[i] = l
	}
	return out
}

func firstInputPosition(e errors.Error) Position {
	if p := positionOf(e.Position()); p.IsValid() {
		return p
	}
	for _, ip := range e.InputPositions() {
		if p := positionOf(ip); p.IsValid() {
			return p
		}
	}
	return Position{}
}

// dataPosition is the position of the deepest part of path present in data.
func dataPosition(data cue.Value, path []string) Position {
	for i := len(path); i >= 0; i-- {
		v := data.LookupPath(cue.MakePath(selectors(path[:i])...))
		if !v.Exists() {
			continue
		}
		if p := positionOf(v.Pos()); p.IsValid() {
			return p
		}
	}
	return Position{}
}

func selectors(path []string) []cue.Selector {
	sels := make([]cue.Selector, 0, len(path))
	for _, p := range path {
		if sel, ok := indexSelector(p); ok {
			sels = append(sels, sel)
			continue
		}
		sels = append(sels, cue.Str(strings.Trim(p, `"`)))
	}
	return sels
}

func indexSelector(p string) (cue.Selector, bool) {
	n := 0
	if p == "" {
		return cue.Selector{}, false
	}
	for _, r := range p {
		if r < '0' || r > '9' {
			return cue.Selector{}, false
		}
		n = n*10 + int(r-'0')
	}
	return cue.Index(n), true
}

// groupMessage writes one message for all errors at one path. An empty
// disjunction (an enum violation, a value of the wrong type against a
// default) becomes "value is not allowed, want A | B" instead of one
// "conflicting values" line per alternative.
func groupMessage(path string, errs []errors.Error, data cue.Value) string {
	if msg, ok := humanMessage(path, errs, data); ok {
		return msg
	}
	var alts []string
	var got string
	for _, e := range errs {
		format, args := e.Msg()
		if strings.HasPrefix(format, "conflicting values %s and %s") && len(args) >= 2 {
			a, b := fmt.Sprint(args[0]), fmt.Sprint(args[1])
			if got == "" {
				if v := data.LookupPath(cue.MakePath(selectors(e.Path())...)); v.Exists() {
					got = fmt.Sprint(v)
				}
			}
			switch got {
			case a:
				alts = append(alts, b)
			case b:
				alts = append(alts, a)
			}
		}
	}
	prefix := ""
	if path != "" {
		prefix = path + ": "
	}
	if len(errs) > 1 && len(alts) > 0 && len(alts) == countConflicts(errs) {
		return fmt.Sprintf("%s%s is not allowed, want %s", prefix, got, strings.Join(dedupe(alts), " | "))
	}
	// Skip the "N errors in empty disjunction:" header when details follow.
	e := errs[0]
	if len(errs) > 1 {
		e = errs[1]
	}
	format, args := e.Msg()
	msg := fmt.Sprintf(format, args...)
	if msg == "" {
		msg = e.Error()
	}
	if msg == "" {
		msg = "value is not allowed here"
	}
	return prefix + msg
}

func countConflicts(errs []errors.Error) int {
	n := 0
	for _, e := range errs {
		if format, _ := e.Msg(); strings.HasPrefix(format, "conflicting values %s and %s") {
			n++
		}
	}
	return n
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// incomplete walks the unified value v and reports every field that has no
// concrete value: a required field the inventory does not set, or one it
// sets to a type only. CUE reports these only when no other error exists;
// Cairn reports all problems at once.
func incomplete(model string, v, data cue.Value, fallback Position) []Problem {
	return placer{model: model, data: data, fallback: fallback}.incomplete(v)
}

func (pl placer) incomplete(v cue.Value) []Problem {
	data := pl.data
	var out []Problem
	seen := map[string]bool{}
	var walk func(v cue.Value, path []string)
	walk = func(v cue.Value, path []string) {
		if v.Err() != nil {
			// An error inside a struct makes the struct an error too; its
			// other fields are still walked, so that a conflict in one
			// target does not hide a missing field in the next.
			if it, err := v.Fields(); err == nil {
				for it.Next() {
					walk(it.Value(), append(path, it.Selector().String()))
				}
				return
			}
			return
		}
		switch v.IncompleteKind() {
		case cue.StructKind:
			if v.Kind() == cue.StructKind {
				it, err := v.Fields()
				if err != nil {
					return
				}
				for it.Next() {
					walk(it.Value(), append(path, it.Selector().String()))
				}
				return
			}
		case cue.ListKind:
			if v.Kind() == cue.ListKind {
				it, err := v.List()
				if err != nil {
					return
				}
				for i := 0; it.Next(); i++ {
					walk(it.Value(), append(path, fmt.Sprint(i)))
				}
				return
			}
		}
		d, _ := v.Default()
		if d.IsConcrete() {
			return
		}
		// Report at the first part of the path the inventory does not set.
		missing := len(path)
		for i := 1; i <= len(path); i++ {
			if !data.LookupPath(cue.MakePath(selectors(path[:i])...)).Exists() {
				missing = i
				break
			}
		}
		p := strings.Join(path[:missing], ".")
		if seen[p] {
			return
		}
		seen[p] = true
		at := unquote(path[:missing])
		// A missing field is placed at the closest enclosing value the
		// model's own files set, so that it is found in the model's file.
		// A value set without a concrete value is placed where it is set.
		set := missing == len(path) && data.LookupPath(cue.MakePath(selectors(path)...)).Exists()
		pos := pl.ownPosition(at, !set)
		if !pos.IsValid() && pl.own != nil && !set {
			pos = pl.fallback
		}
		if !pos.IsValid() {
			pos = dataPosition(data, path[:missing])
		}
		msg := fmt.Sprintf("%s: missing required field", p)
		if set {
			msg = fmt.Sprintf("%s: incomplete value %v", p, d)
		}
		out = append(out, pl.problem(at, pos, msg))
	}
	walk(v, nil)
	return append(out, pl.hidden(v)...)
}

// hidden reports the errors of values the model's own files set that no
// problem covers yet: CUE leaves some errors, such as a reference cycle,
// out of Validate when anything else is wrong.
func (pl placer) hidden(v cue.Value) []Problem {
	if pl.reported == nil {
		return nil
	}
	keys := make([]string, 0, len(pl.own))
	for k := range pl.own {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Problem
	for _, k := range keys {
		at := strings.Split(k, "\x00")
		if err := v.LookupPath(cue.MakePath(selectors(at)...)).Err(); err != nil {
			out = append(out, pl.unreported(err)...)
		}
	}
	return out
}
