// Package inventory reads a model inventory, from the working tree or from a
// git revision, and evaluates it against Cairn's schema: the repository
// settings of inventory.cue and one CUE instance per model folder.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"

	"github.com/cairnops/cairn/internal/keys"
	"github.com/cairnops/cairn/schema"
)

// ErrNoInventory is returned when the folder has no inventory.cue.
var ErrNoInventory = errors.New("no inventory.cue: not a Cairn inventory")

// NamePattern is what a model name must match.
var NamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// SettingsFile is the repository settings file.
const SettingsFile = "inventory.cue"

// ModelsDir is the folder that holds one folder per model.
const ModelsDir = "models"

// Inventory is an evaluated inventory.
type Inventory struct {
	Source   *Source
	Settings schema.Settings
	// SettingsOK is false when inventory.cue has problems; Settings then
	// holds the schema defaults.
	SettingsOK bool
	// Models holds every model folder, sorted by name, including those with
	// problems (their Valid is false).
	Models []*Model
	// Problems are the schema problems of the whole inventory, in the order
	// of Models, inventory.cue first.
	Problems []Problem
	// Cached counts the models whose result came from Options.Cache, not
	// from evaluating them.
	Cached int

	settingsPos map[string]Position
}

// Model is one evaluated model folder.
type Model struct {
	schema.Model
	// Name is the folder name.
	Name string
	// Dir is the folder, "models/<name>".
	Dir string
	// Files are the CUE files that make the model, the folder's own first.
	Files []string
	// Valid is true when the model unified with the schema without problems;
	// only then is the embedded schema.Model filled in.
	Valid bool

	// fsys reads Files again when Pos is first called: positions are
	// needed only for findings, and indexing every model up front would
	// cost more memory than the models themselves.
	fsys    fs.FS
	posOnce sync.Once
	pos     map[string]Position
}

// Pos returns where the value at path is set, or the closest enclosing value
// that is set, or the model's first file. Path elements are field names and
// list indexes, e.g. Pos("versions", "2.3.0", "artifact", "digest").
func (m *Model) Pos(path ...string) Position {
	m.posOnce.Do(m.indexPositions)
	for i := len(path); i > 0; i-- {
		if p, ok := m.pos[strings.Join(path[:i], "\x00")]; ok {
			return p
		}
	}
	if len(m.Files) > 0 {
		return Position{File: m.Files[0], Line: 1, Column: 1}
	}
	return Position{File: m.Dir}
}

// indexPositions parses the model's files again and indexes where each
// value is set. Files that no longer parse are passed over.
func (m *Model) indexPositions() {
	if m.fsys == nil {
		return
	}
	var files []*ast.File
	for _, name := range m.Files {
		b, err := fs.ReadFile(m.fsys, name)
		if err != nil {
			continue
		}
		if f, err := parser.ParseFile(name, b); err == nil {
			files = append(files, f)
		}
	}
	m.pos = astPositions(files)
}

// SettingsPos returns where the value at path of inventory.cue is set, or the
// closest enclosing value, or the file itself.
func (inv *Inventory) SettingsPos(path ...string) Position {
	for i := len(path); i > 0; i-- {
		if p, ok := inv.settingsPos[strings.Join(path[:i], "\x00")]; ok {
			return p
		}
	}
	return Position{File: SettingsFile, Line: 1, Column: 1}
}

// Model returns the model named name, or nil.
func (inv *Inventory) Model(name string) *Model {
	i := sort.Search(len(inv.Models), func(i int) bool { return inv.Models[i].Name >= name })
	if i < len(inv.Models) && inv.Models[i].Name == name {
		return inv.Models[i]
	}
	return nil
}

// Options tune Load.
type Options struct {
	// Workers is how many models are evaluated at once; default GOMAXPROCS.
	Workers int
	// Recycle is how many models a worker evaluates in one cue.Context
	// before it starts a fresh one, since a context never frees memory;
	// default 64.
	Recycle int
	// Only limits evaluation to these model names; empty means all.
	Only []string
	// Visit, when set, is called in the evaluating worker with every valid
	// model and its live evaluated value (unified with the schema). Calls
	// run concurrently; the value must not be kept after Visit returns.
	// Visit runs in-process only: Load with Isolate and Visit is an error;
	// use Visitor.
	Visit func(m *Model, v cue.Value)
	// Visitor, when set, is run on every valid model like Visit, in the
	// process that evaluates the model, and its results are handed back
	// to Visitor.Collect.
	Visitor *Visitor
	// Isolate, when set, evaluates inventory.cue and the models in worker
	// processes under its budget. Nil evaluates in-process, without bounds.
	Isolate *Isolation
	// Cache, when set, remembers the results of evaluating inventory.cue
	// and each model across runs: a model whose result is cached is not
	// evaluated (and needs no worker). Load with Visit does not use it,
	// since what Visit does cannot be remembered; use Visitor.
	Cache *Cache
	// Progress, when set, is called after each model is evaluated with how
	// many of the total are done; the last call has done == total. Calls
	// come one at a time, from the evaluating goroutines.
	Progress func(done, total int)
}

// progress returns the function the evaluation loops call after each
// model: Options.Progress, serialised, or a no-op.
func (o Options) progress(total int) func() {
	if o.Progress == nil {
		return func() {}
	}
	var mu sync.Mutex
	done := 0
	return func() {
		mu.Lock()
		defer mu.Unlock()
		done++
		o.Progress(done, total)
	}
}

// Load reads and evaluates the inventory of src. Problems with the
// inventory's content are returned in Inventory.Problems, not as an error;
// the error is for an inventory that cannot be read at all (ErrNoInventory,
// I/O, a cancelled ctx).
func Load(ctx context.Context, src *Source, opts Options) (*Inventory, error) {
	if opts.Isolate != nil && opts.Visit != nil {
		return nil, errors.New("inventory: Options.Visit cannot run in a worker process; use Options.Visitor")
	}
	start := statClock()
	inv := &Inventory{Source: src}
	var cs *cacheSession
	var ix *statIndex
	var folders []string // every model folder, for the stat index
	if opts.Cache != nil && opts.Visit == nil {
		cs = opts.Cache.open()
		defer cs.close()
		if ix = openStatIndex(opts.Cache.Dir, src, start); ix != nil {
			defer func() { ix.close(folders) }()
		}
	}
	settingsSrc, err := fs.ReadFile(src.FS, SettingsFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNoInventory
		}
		return nil, fmt.Errorf("reading %s: %w", SettingsFile, err)
	}
	if opts.Isolate != nil {
		if err := inv.loadSettingsIsolated(ctx, opts.Isolate, settingsSrc, cs); err != nil {
			return nil, err
		}
	} else {
		inv.loadSettings(settingsSrc)
	}

	var entries []fs.DirEntry
	if ix != nil {
		entries, err = ix.list()
	} else {
		entries, err = fs.ReadDir(src.FS, ModelsDir)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", ModelsDir, err)
	}
	defaults, err := readDefaults(src.FS, entries)
	if err != nil {
		return nil, err
	}
	only := map[string]bool{}
	for _, n := range opts.Only {
		only[n] = true
	}
	for _, e := range entries {
		if e.IsDir() {
			folders = append(folders, e.Name())
		}
		if len(only) > 0 && !only[e.Name()] {
			continue
		}
		dir := path.Join(ModelsDir, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			// A linked model folder counts only while it stays inside the repository.
			fi, err := fs.Stat(src.FS, dir)
			if err != nil {
				inv.Problems = append(inv.Problems, Problem{Model: e.Name(), Pos: Position{File: dir},
					Message: "symbolic link leaves the repository or does not resolve"})
				continue
			}
			if !fi.IsDir() {
				continue
			}
		} else if !e.IsDir() {
			continue
		}
		inv.Models = append(inv.Models, &Model{Name: e.Name(), Dir: dir})
	}
	sort.Slice(inv.Models, func(i, j int) bool { return inv.Models[i].Name < inv.Models[j].Name })

	problems := make([][]Problem, len(inv.Models))
	eval := evaluate
	if opts.Isolate != nil {
		eval = evaluateIsolated
	}
	var mc *modelCache
	if cs != nil {
		mc = &modelCache{s: cs, k: newKeyer(opts.Cache, defaults, opts.Visitor), vis: opts.Visitor, stats: ix}
	}
	if err := eval(ctx, &statMemo{FS: src.FS}, defaults, inv.Models, problems, opts, mc); err != nil {
		return nil, err
	}
	if cs != nil {
		inv.Cached = cs.hits
	}
	checkModels(inv.Models, problems, inv.Settings, inv.SettingsOK)
	for _, p := range problems {
		inv.Problems = append(inv.Problems, p...)
	}
	return inv, nil
}

type sourceFile struct {
	name string
	src  []byte
}

// readDefaults reads models/*.cue, the defaults every model unifies with.
// entries is the listing of models/.
func readDefaults(fsys fs.FS, entries []fs.DirEntry) ([]sourceFile, error) {
	var out []sourceFile
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".cue") {
			continue
		}
		name := path.Join(ModelsDir, e.Name())
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		out = append(out, sourceFile{name: name, src: b})
	}
	return out, nil
}

// evaluate runs the models through workers, each with its own cue.Context.
// A model whose result mc holds is not evaluated.
func evaluate(ctx context.Context, fsys fs.FS, defaults []sourceFile, models []*Model, problems [][]Problem, opts Options, mc *modelCache) error {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if workers > len(models) {
		workers = len(models)
	}
	recycle := opts.Recycle
	if recycle <= 0 {
		recycle = 64
	}
	// visit runs the visitor on a valid model and returns its result for
	// the cache.
	var visit func(m *Model, v cue.Value) []byte
	if opts.Visit != nil {
		visit = func(m *Model, v cue.Value) []byte { opts.Visit(m, v); return nil }
	}
	if vis := opts.Visitor; vis != nil {
		f, err := lookupVisitor(vis.Name)
		if err != nil {
			return err
		}
		vf, err := f(vis.Config)
		if err != nil {
			return err
		}
		visit = func(m *Model, v cue.Value) []byte {
			res := vf(m, v, func([]byte) {})
			vis.Collect(m.Name, res, nil)
			return res
		}
	}
	next := make(chan int)
	tick := opts.progress(len(models))
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ev *evaluator
			done := 0
			// evaluator returns the goroutine's evaluator, a fresh one
			// every recycle models; none is made while results are cached.
			evaluator := func() (*evaluator, error) {
				if ev == nil || done >= recycle {
					var err error
					if ev, err = newEvaluator(); err != nil {
						return nil, err
					}
					done = 0
				}
				done++
				return ev, nil
			}
			for i := range next {
				p, err := evalCached(fsys, defaults, models[i], mc, evaluator, visit)
				tick()
				if err != nil {
					fail(err)
					continue
				}
				problems[i] = p
			}
		}()
	}
	err := feed(ctx, next, len(models))
	wg.Wait()
	if err != nil {
		return err
	}
	return firstErr
}

type evaluator struct {
	ctx    *cue.Context
	schema *schema.Schema
}

func newEvaluator() (*evaluator, error) {
	c := cuecontext.New()
	s, err := schema.Compile(c)
	if err != nil {
		return nil, err
	}
	return &evaluator{ctx: c, schema: s}, nil
}

// evalCached evaluates one model folder in-process, or takes its result
// from mc. Problems with its content are returned as problems; the error is
// for files that cannot be read.
func evalCached(fsys fs.FS, defaults []sourceFile, m *Model, mc *modelCache, evaluator func() (*evaluator, error), visit func(*Model, cue.Value) []byte) ([]Problem, error) {
	k, keyed, e := mc.lookup(fsys, m, nil)
	if e != nil {
		if p, ok := mc.apply(fsys, m, e, nil); ok {
			return p, nil
		}
	}
	own, problems, err := readModel(fsys, defaults, m)
	if err != nil || len(problems) > 0 {
		return problems, err
	}
	if !keyed && mc != nil {
		if k, keyed, e = mc.lookup(fsys, m, own); e != nil {
			if p, ok := mc.apply(fsys, m, e, nil); ok {
				return p, nil
			}
		}
	}
	ev, err := evaluator()
	if err != nil {
		return nil, err
	}
	problems, built, v := ev.evalModel(m, own, defaults)
	if built {
		m.fsys = fsys
	}
	var entry *cacheEntry
	if keyed {
		entry = &cacheEntry{files: m.Files, built: built, problems: problems}
	}
	if len(problems) > 0 {
		if entry != nil {
			mc.store(k, entry)
		}
		return problems, nil
	}
	if entry != nil {
		if entry.value, err = encodeValue(nil, &m.Model); err != nil {
			entry = nil
		}
	}
	if problems := pathProblems(fsys, m); len(problems) > 0 {
		// The visitor runs only on valid models: an entry that must hold
		// its result cannot be made.
		if entry != nil && mc.vis == nil {
			mc.store(k, entry)
		}
		return problems, nil
	}
	m.Valid = true
	if visit != nil {
		res := visit(m, v)
		if entry != nil {
			entry.visited, entry.visit = true, res
		}
	}
	if entry != nil {
		mc.store(k, entry)
	}
	return nil, nil
}

// readModel reads the model's own files and sets m.Files. A folder that
// cannot be evaluated (no .cue files, a file that cannot be read) is a
// problem; the error is for an I/O failure.
func readModel(fsys fs.FS, defaults []sourceFile, m *Model) ([]sourceFile, []Problem, error) {
	if own, ok := readModelFast(fsys, m.Dir); ok {
		for _, f := range own {
			m.Files = append(m.Files, f.name)
		}
		for _, d := range defaults {
			m.Files = append(m.Files, d.name)
		}
		return own, nil, nil
	}
	entries, err := fs.ReadDir(fsys, m.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", m.Dir, err)
	}
	var own []sourceFile
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".cue") {
			continue
		}
		name := path.Join(m.Dir, e.Name())
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			if errors.Is(err, fs.ErrPermission) || !errors.Is(err, fs.ErrNotExist) {
				return nil, []Problem{{Model: m.Name, Pos: Position{File: name}, Message: "file cannot be read inside the repository: " + unwrapPathError(err)}}, nil
			}
			return nil, nil, fmt.Errorf("reading %s: %w", name, err)
		}
		own = append(own, sourceFile{name: name, src: b})
		m.Files = append(m.Files, name)
	}
	for _, d := range defaults {
		m.Files = append(m.Files, d.name)
	}
	if len(own) == 0 {
		return nil, []Problem{{Model: m.Name, Pos: Position{File: m.Dir}, Message: "model folder has no .cue files"}}, nil
	}
	return own, nil, nil
}

// readModelFast reads the .cue files of the work tree folder dir by their
// names alone, without the type of every entry that fs.ReadDir looks up.
// It reports false for a folder that is not in the work tree, or where
// anything is unusual (no .cue file, one that cannot be read): readModel
// then reads it the exact way.
func readModelFast(fsys fs.FS, dir string) ([]sourceFile, bool) {
	f, err := fsys.Open(dir)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	d, ok := f.(interface {
		Readdirnames(n int) ([]string, error)
	})
	if !ok {
		return nil, false
	}
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, false
	}
	sort.Strings(names)
	var own []sourceFile
	for _, n := range names {
		if !strings.HasSuffix(n, ".cue") {
			continue
		}
		name := dir + "/" + n
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, false
		}
		own = append(own, sourceFile{name: name, src: b})
	}
	return own, len(own) > 0
}

// evalModel evaluates the model made of its own files and the defaults,
// and decodes it into m.Model. built reports whether the CUE instance was
// built (positions can then be indexed); v is the value unified with the
// schema, valid when there are no problems. It reads no files, so that it
// runs in a worker process as well.
func (ev *evaluator) evalModel(m *Model, own, defaults []sourceFile) (problems []Problem, built bool, v cue.Value) {
	first := Position{File: own[0].name, Line: 1, Column: 1}
	if !NamePattern.MatchString(m.Name) {
		problems = append(problems, Problem{Model: m.Name, Pos: first,
			Message: fmt.Sprintf("model folder name %q is not a valid model name: want lower-case letters, digits and inner dashes, at most 63 characters", m.Name)})
	}

	inst := build.NewContext().NewInstance(m.Dir, nil)
	var files []*ast.File
	for _, f := range append(own, defaults...) {
		file, err := parser.ParseFile(f.name, f.src, parser.ParseComments)
		if err != nil {
			problems = append(problems, cueProblems(m.Name, err, cue.Value{}, Position{File: f.name})...)
			continue
		}
		// A model folder's schema.cue binds it to the schema for plain
		// `cue vet`; the schema applies below.
		schema.DropBinding(file)
		if pkg := file.PackageName(); pkg != "model" {
			problems = append(problems, Problem{Model: m.Name, Pos: packagePos(file, f.name),
				Message: fmt.Sprintf("package %q: model files are package model", pkg)})
			continue
		}
		files = append(files, file)
		if err := inst.AddSyntax(file); err != nil {
			problems = append(problems, cueProblems(m.Name, err, cue.Value{}, Position{File: f.name})...)
		}
	}
	if len(problems) > 0 {
		return problems, false, cue.Value{}
	}
	data := ev.ctx.BuildInstance(inst)
	pl := modelPlacer(m, data, files, first)
	if err := data.Err(); err != nil {
		return pl.cueProblems(err), false, cue.Value{}
	}
	v = data.Unify(ev.schema.Model)
	// The concrete check is the common, fast path. Only when it fails are
	// errors gathered in two passes, since CUE leaves out missing fields
	// when anything else is wrong.
	if err := v.Validate(cue.Concrete(true), cue.All()); err != nil {
		if err := v.Validate(cue.All()); err != nil {
			problems = append(problems, pl.cueProblems(err)...)
		}
		problems = append(problems, pl.incomplete(v)...)
		problems = append(problems, pl.unreported(err)...)
	}
	if len(problems) > 0 {
		return problems, true, v
	}
	if err := v.Decode(&m.Model); err != nil {
		return pl.cueProblems(err), true, v
	}
	if problems := nullEntries(m, first); len(problems) > 0 {
		m.Model = schema.Model{}
		return problems, true, v
	}
	return nil, true, v
}

// nullEntries reports a version or monitor of m that is null, which the
// schema refuses: every later step may read the entries it names.
func nullEntries(m *Model, at Position) []Problem {
	var out []Problem
	for _, v := range keys.Sorted(m.Versions) {
		if m.Versions[v] == nil {
			out = append(out, Problem{Model: m.Name, Pos: at, Message: pathString([]string{"versions", v}) + ": must be a version, not null"})
		}
	}
	for _, n := range keys.Sorted(m.Monitors) {
		if m.Monitors[n] == nil {
			out = append(out, Problem{Model: m.Name, Pos: at, Message: pathString([]string{"monitors", n}) + ": must be a monitor, not null"})
		}
	}
	return out
}

func unwrapPathError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func packagePos(f *ast.File, name string) Position {
	for _, d := range f.Decls {
		if p, ok := d.(*ast.Package); ok {
			if pos := positionOf(p.Name.Pos()); pos.IsValid() {
				return pos
			}
		}
	}
	return Position{File: name, Line: 1, Column: 1}
}

// astPositions indexes where every field and list element is set in files,
// by walking their syntax: far cheaper than iterating evaluated values. Where
// several files set a field, the first file wins (the model's own files come
// before the defaults).
func astPositions(files []*ast.File) map[string]Position {
	out := map[string]Position{}
	var walk func(n ast.Node, key string)
	walk = func(n ast.Node, key string) {
		sep := ""
		if key != "" {
			sep = "\x00"
		}
		switch x := n.(type) {
		case *ast.StructLit:
			for _, d := range x.Elts {
				walk(d, key)
			}
		case *ast.File:
			for _, d := range x.Decls {
				walk(d, key)
			}
		case *ast.Field:
			name, _, err := ast.LabelName(x.Label)
			if err != nil {
				return
			}
			k := key + sep + name
			if _, ok := out[k]; !ok {
				if p := positionOf(x.Label.Pos()); p.IsValid() {
					out[k] = p
				}
			}
			walk(x.Value, k)
		case *ast.ListLit:
			for i, e := range x.Elts {
				k := fmt.Sprintf("%s%s%d", key, sep, i)
				if _, ok := out[k]; !ok {
					if p := positionOf(e.Pos()); p.IsValid() {
						out[k] = p
					}
				}
				walk(e, k)
			}
		case *ast.BinaryExpr:
			// a: {...} & {...}: both sides set fields of a.
			walk(x.X, key)
			walk(x.Y, key)
		}
	}
	for _, f := range files {
		walk(f, "")
	}
	return out
}

// loadSettings evaluates inventory.cue against #Settings.
func (inv *Inventory) loadSettings(src []byte) {
	ev, err := newEvaluator()
	if err != nil {
		inv.Problems = append(inv.Problems, Problem{Pos: Position{File: SettingsFile}, Message: err.Error()})
		return
	}
	inv.evalSettings(ev, src)
}

// evalSettings is loadSettings in ev. It returns the settings value,
// unified with the schema, when SettingsOK; it reads no files, so that it
// runs in a worker process as well.
func (inv *Inventory) evalSettings(ev *evaluator, src []byte) cue.Value {
	fallback := Position{File: SettingsFile, Line: 1, Column: 1}
	def := ev.schema.Settings
	f, err := parser.ParseFile(SettingsFile, src, parser.ParseComments)
	if err != nil {
		inv.Problems = append(inv.Problems, cueProblems("", err, cue.Value{}, fallback)...)
		_ = def.Decode(&inv.Settings)
		return cue.Value{}
	}
	schema.DropBinding(f)
	// A file of another package is reported, and its settings are not
	// trusted: SettingsOK stays false (a base with it governs nothing).
	var pkgProblems []Problem
	if pkg := f.PackageName(); pkg != "inventory" {
		pkgProblems = append(pkgProblems, Problem{Pos: packagePos(f, SettingsFile),
			Message: fmt.Sprintf("package %q: inventory.cue is package inventory", pkg)})
	}
	inv.Problems = append(inv.Problems, pkgProblems...)
	data := ev.ctx.BuildFile(f)
	if err := data.Err(); err != nil {
		inv.Problems = append(inv.Problems, cueProblems("", err, data, fallback)...)
		_ = def.Decode(&inv.Settings)
		return cue.Value{}
	}
	v := data.Unify(def)
	var problems []Problem
	if err := v.Validate(cue.All()); err != nil {
		problems = append(problems, cueProblems("", err, data, fallback)...)
	}
	problems = append(problems, incomplete("", v, data, fallback)...)
	inv.settingsPos = astPositions([]*ast.File{f})
	if len(problems) == 0 {
		problems = concreteProblems(v, data, fallback)
	}
	if len(problems) == 0 {
		if err := v.Decode(&inv.Settings); err != nil {
			problems = append(problems, cueProblems("", err, data, fallback)...)
		}
	}
	problems = append(problems, inv.settingsProblems(v, ev.schema.TargetKinds)...)
	inv.Settings.Targets = withConfig(v, inv.Settings.Targets)
	if len(problems) > 0 || len(pkgProblems) > 0 {
		inv.Problems = append(inv.Problems, problems...)
		inv.Settings = schema.Settings{} // Decode merges into maps: start empty
		_ = def.Decode(&inv.Settings)
		return cue.Value{}
	}
	inv.SettingsOK = true
	return v
}

// applySettings decodes the settings value v that evalSettings returned,
// driver settings of every target included, and sets SettingsOK.
func (inv *Inventory) applySettings(v cue.Value) {
	_ = v.Decode(&inv.Settings)
	inv.Settings.Targets = withConfig(v, inv.Settings.Targets)
	inv.SettingsOK = true
}

// FilePrefix starts an artifact URI that names a file in the repository.
const FilePrefix = "file://"

// pathProblems checks every repository path the model names: file://
// artifact URIs and the card's documents, when they are not URLs.
func pathProblems(fsys fs.FS, m *Model) []Problem {
	var out []Problem
	check := func(p string, at ...string) {
		if err := checkPath(fsys, p); err != nil {
			out = append(out, Problem{Model: m.Name, Pos: m.Pos(at...), Message: cue.MakePath(selectors(at)...).String() + ": " + err.Error()})
		}
	}
	versions := make([]string, 0, len(m.Versions))
	for v := range m.Versions {
		versions = append(versions, v)
	}
	sort.Strings(versions)
	for _, v := range versions {
		if uri := m.Versions[v].Artifact.URI; strings.HasPrefix(uri, FilePrefix) {
			check(strings.TrimPrefix(uri, FilePrefix), "versions", v, "artifact", "uri")
		}
	}
	type doc struct {
		p    string
		path []string
	}
	docs := []doc{{m.Card.Risk.Assessment, []string{"card", "risk", "assessment"}}}
	if m.Card.Validation != nil {
		docs = append(docs, doc{m.Card.Validation.Report, []string{"card", "validation", "report"}})
	}
	if m.Card.Privacy != nil {
		docs = append(docs, doc{m.Card.Privacy.DPIA, []string{"card", "privacy", "dpia"}})
	}
	for _, d := range docs {
		if d.p != "" && !strings.Contains(d.p, "://") {
			check(d.p, d.path...)
		}
	}
	return out
}

// statMemo is the FS the models of one Load are read through: it remembers
// what Stat answered, since many models name the same files (pathProblems).
type statMemo struct {
	fs.FS
	stats sync.Map // name -> statResult
}

type statResult struct {
	fi  fs.FileInfo
	err error
}

func (s *statMemo) Stat(name string) (fs.FileInfo, error) {
	if r, ok := s.stats.Load(name); ok {
		return r.(statResult).fi, r.(statResult).err
	}
	fi, err := fs.Stat(s.FS, name)
	s.stats.Store(name, statResult{fi, err})
	return fi, err
}

func (s *statMemo) ReadFile(name string) ([]byte, error) { return fs.ReadFile(s.FS, name) }

func (s *statMemo) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(s.FS, name) }

// feed sends the indexes 0..n-1 to the workers' channel, then closes it;
// it stops early, returning ctx's error, when ctx is done.
func feed(ctx context.Context, next chan<- int, n int) error {
	defer close(next)
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
