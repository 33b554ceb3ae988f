package inventory

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"

	"github.com/cairnops/cairn/schema"
)

// WorkerEnv is the environment variable that makes a process started by
// Isolation a worker: IsWorker reports whether it is set.
const WorkerEnv = "CAIRN_EVAL_WORKER"

// memoryExit is the exit code of a worker whose heap passed the memory
// budget.
const memoryExit = 86

// Budget bounds one unit of evaluation: one model, inventory.cue, one
// policy file. Zero fields mean no bound.
type Budget struct {
	Time   time.Duration
	Memory int64 // bytes of Go heap
}

// Isolation makes Load evaluate in child worker processes, each under a
// Budget, so that no input can crash the caller or keep it waiting without
// end. A unit that passes the budget becomes a Problem at its file.
type Isolation struct {
	// Command starts a worker: the path of a binary and its arguments. The
	// binary must call ServeWorker when IsWorker reports true, typically
	// os.Executable() of a program that checks IsWorker first thing.
	Command []string
	// Budget bounds each model, inventory.cue and each policy file.
	Budget Budget
	// TimeHint and MemoryHint say how a user raises each budget, e.g.
	// "--eval-timeout / CAIRN_EVAL_TIMEOUT"; they end budget messages.
	TimeHint, MemoryHint string
	// Cache, when set, remembers the outputs of Run's jobs by their name
	// and input: a job must be a function of its input.
	Cache *Cache
	// OnStart, when set, is called before each worker starts: a run
	// served from the cache starts none, one that evaluates starts some,
	// and a program may want to spend memory differently for each.
	OnStart func()
}

// BudgetError is the error of a unit of evaluation that passed its budget.
type BudgetError struct {
	// Resource is "time" or "memory".
	Resource string
	// Limit is the budget, as "20s" or "1GiB".
	Limit string
	// Hint says how to raise it; may be empty.
	Hint string
}

// Error returns "evaluation passed the <resource> budget of <limit>".
func (e *BudgetError) Error() string {
	return fmt.Sprintf("evaluation passed the %s budget of %s", e.Resource, e.Limit)
}

// Advice returns the error's message followed by what to do about it: to
// simplify what (e.g. "the model") or raise the budget.
func (e *BudgetError) Advice(what string) string {
	s := e.Error() + "; simplify " + what
	if e.Hint != "" {
		s += " or raise " + e.Hint
	}
	return s
}

// WorkerError is the error of a worker process that failed other than by
// passing a budget: Line is the one line of its stderr that says why.
type WorkerError struct {
	Line string
}

// Error returns "evaluation failed in a worker process: <line>".
func (e *WorkerError) Error() string {
	return "evaluation failed in a worker process: " + e.Line
}

// unitMessage is the one-line problem message for a unit (what, e.g. "the
// model") that could not be evaluated because of err.
func unitMessage(err error, what string) string {
	var be *BudgetError
	if errors.As(err, &be) {
		return be.Advice(what)
	}
	return err.Error()
}

// FormatSize returns n bytes as "1GiB", "512MiB", "300KiB" or "123B",
// whichever unit divides it.
func FormatSize(n int64) string {
	for _, u := range []struct {
		s    string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.s)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// VisitFunc is run on every valid model with its live evaluated value, in
// the process that evaluates the model, and returns a result for the
// Visitor's Collect. It may call note with what it is about to do (e.g.
// which rule it runs): should it not finish, Collect receives the last
// note. It must be safe for concurrent use; the value must not be kept
// after it returns.
type VisitFunc func(m *Model, v cue.Value, note func([]byte)) []byte

// VisitorFactory makes a VisitFunc from a Visitor's Config.
type VisitorFactory func(config []byte) (VisitFunc, error)

// JobFunc is a computation a worker runs for its parent under the budget
// (see Isolation.Run). The error is turned into a WorkerError.
type JobFunc func(input []byte) ([]byte, error)

var (
	registryMu sync.Mutex
	visitors   = map[string]VisitorFactory{}
	jobs       = map[string]JobFunc{}
)

// RegisterVisitor makes the factory f known under name, in the parent and
// in workers alike; call it from an init function. It panics when name is
// registered twice, as a programming error.
func RegisterVisitor(name string, f VisitorFactory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, ok := visitors[name]; ok {
		panic("inventory: visitor " + name + " registered twice")
	}
	visitors[name] = f
}

// RegisterJob makes the job f known under name to Isolation.Run; call it
// from an init function. It panics when name is registered twice.
func RegisterJob(name string, f JobFunc) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, ok := jobs[name]; ok {
		panic("inventory: job " + name + " registered twice")
	}
	jobs[name] = f
}

func lookupVisitor(name string) (VisitorFactory, error) {
	registryMu.Lock()
	defer registryMu.Unlock()
	f, ok := visitors[name]
	if !ok {
		return nil, fmt.Errorf("no visitor %q is registered", name)
	}
	return f, nil
}

// Visitor is code run on every valid model where the model is evaluated:
// in Load's own process, or in a worker process under Options.Isolate.
// Unlike Options.Visit it can cross into a worker, because the worker
// makes its own VisitFunc from Name and Config.
type Visitor struct {
	// Name is the VisitorFactory registered with RegisterVisitor.
	Name string
	// Config is passed to the factory, once per process.
	Config []byte
	// Collect receives, in Load's process, the result of the VisitFunc for
	// a valid model, or err when the VisitFunc could not finish (a
	// *BudgetError or a *WorkerError) with its last note as result. After
	// an error the visitor is not run on the rest of the models. Calls may
	// run concurrently.
	Collect func(model string, result []byte, err error)
}

// IsWorker reports whether this process was started as a worker by an
// Isolation; the program must then call ServeWorker and exit with its code.
func IsWorker() bool { return os.Getenv(WorkerEnv) == "1" }

// JobResult is the outcome of one input of Isolation.Run.
type JobResult struct {
	Output []byte
	// Err is a *BudgetError, a *WorkerError, or the job's own error as a
	// *WorkerError; nil when Output is the job's.
	Err error
}

// Run runs the job registered under name (RegisterJob) on each input in
// a worker process, one after the other, each under the budget, and returns
// their results in order. A worker that passes the budget is replaced for
// the next input. The error is ctx's, or a worker that cannot start.
func (iso *Isolation) Run(ctx context.Context, name string, inputs ...[]byte) ([]JobResult, error) {
	out := make([]JobResult, len(inputs))
	var cs *cacheSession
	if iso.Cache != nil && len(inputs) > 0 {
		cs = iso.Cache.open()
		defer cs.close()
	}
	var p *proc
	defer func() {
		if p != nil {
			p.close()
		}
	}()
	for i, in := range inputs {
		var k cacheKey
		if cs != nil {
			k = jobKey(iso.Cache, name, in)
			if e := cs.get(k); e != nil {
				out[i].Output = e.value
				continue
			}
		}
		if p == nil {
			var err error
			if p, err = iso.start(&workerInit{Memory: iso.Budget.Memory}); err != nil {
				return nil, err
			}
		}
		if err := p.send(request{Job: &jobRequest{Name: name, Input: in}}); err != nil {
			return nil, err
		}
		r, err := p.recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			out[i].Err, p = err, nil
			continue
		}
		out[i].Output = r.Output
		if r.Err != "" {
			out[i].Err = &WorkerError{Line: r.Err}
		} else if cs != nil {
			cs.put(k, &cacheEntry{value: r.Output})
		}
	}
	return out, nil
}

// loadSettingsIsolated evaluates inventory.cue in a worker. A worker that
// passes the budget or dies is a problem at inventory.cue, and the settings
// are the schema's defaults.
func (inv *Inventory) loadSettingsIsolated(ctx context.Context, iso *Isolation, src []byte, cs *cacheSession) error {
	r, err := settingsResponse(ctx, iso, src, cs)
	if err != nil {
		return err
	}
	inv.Problems = append(inv.Problems, r.Problems...)
	if r.Built {
		// The worker parsed the same bytes; parsing cannot loop or blow up.
		if f, err := parser.ParseFile(SettingsFile, src, parser.ParseComments); err == nil {
			inv.settingsPos = astPositions([]*ast.File{f})
		}
	}
	ev, err := newEvaluator()
	if err != nil {
		inv.Problems = append(inv.Problems, Problem{Pos: Position{File: SettingsFile}, Message: err.Error()})
		return nil
	}
	if r.Value == nil {
		_ = ev.schema.Settings.Decode(&inv.Settings)
		return nil
	}
	// The value is concrete JSON, which is CUE: decoding it here gives the
	// same Go values as decoding the evaluated value in-process.
	v := ev.ctx.CompileBytes(r.Value, cue.Filename(SettingsFile))
	if v.Err() != nil {
		inv.Problems = append(inv.Problems, cueProblems("", v.Err(), cue.Value{}, Position{File: SettingsFile, Line: 1, Column: 1})...)
		_ = ev.schema.Settings.Decode(&inv.Settings)
		return nil
	}
	inv.applySettings(v)
	return nil
}

// settingsResponse evaluates inventory.cue in a worker, or takes the
// worker's response from the cache. A worker that passes the budget or
// dies is a problem at inventory.cue; the error is ctx's, or a worker that
// cannot start.
func settingsResponse(ctx context.Context, iso *Isolation, src []byte, cs *cacheSession) (response, error) {
	var k cacheKey
	if cs != nil {
		k = settingsKey(cs.c, src)
		if e := cs.get(k); e != nil {
			return response{Problems: e.problems, Built: e.built, Value: e.value}, nil
		}
	}
	p, err := iso.start(&workerInit{Memory: iso.Budget.Memory})
	if err != nil {
		return response{}, err
	}
	defer p.close()
	if err := p.send(request{Settings: &wireFile{Name: SettingsFile, Src: string(src)}}); err != nil {
		return response{}, err
	}
	r, err := p.recv(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return response{}, ctx.Err()
		}
		// Budgets are the caller's: not remembered.
		return response{Problems: []Problem{{Pos: Position{File: SettingsFile, Line: 1, Column: 1}, Message: unitMessage(err, SettingsFile)}}}, nil
	}
	if cs != nil {
		cs.put(k, &cacheEntry{built: r.Built, problems: r.Problems, value: r.Value})
	}
	return r, nil
}

// evaluateIsolated evaluates the models in worker processes, up to
// opts.Workers at once, each worker one model at a time. Files are read
// here and sent to the worker; paths the model names are checked here.
func evaluateIsolated(ctx context.Context, fsys fs.FS, defaults []sourceFile, models []*Model, problems [][]Problem, opts Options, mc *modelCache) error {
	iso := opts.Isolate
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(models))
	init := &workerInit{Memory: iso.Budget.Memory, Recycle: opts.Recycle, Defaults: toWire(defaults)}
	if vis := opts.Visitor; vis != nil {
		init.Visitor, init.Config = vis.Name, vis.Config
	}
	var visitOff atomic.Bool // set once the visitor failed
	next := make(chan int)
	tick := opts.progress(len(models))
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p *proc
			defer func() {
				if p != nil {
					p.close()
				}
			}()
			one := func(i int) {
				defer tick()
				m := models[i]
				k, keyed, e := mc.lookup(fsys, m, nil)
				if e != nil {
					if probs, ok := mc.apply(fsys, m, e, &visitOff); ok {
						problems[i] = probs
						return
					}
				}
				own, probs, err := readModel(fsys, defaults, m)
				if err != nil {
					fail(err)
					return
				}
				if len(probs) > 0 {
					problems[i] = probs
					return
				}
				if !keyed && mc != nil {
					if k, keyed, e = mc.lookup(fsys, m, own); e != nil {
						if probs, ok := mc.apply(fsys, m, e, &visitOff); ok {
							problems[i] = probs
							return
						}
					}
				}
				if p == nil {
					if p, err = iso.start(init); err != nil {
						fail(err)
						return
					}
				}
				var crashed bool
				var entry *cacheEntry
				problems[i], crashed, entry, err = isolatedModel(ctx, p, fsys, m, own, opts.Visitor, &visitOff)
				if err != nil {
					fail(err)
				}
				if crashed {
					p = nil
				}
				if keyed && entry != nil {
					mc.store(k, entry)
				}
			}
			for i := range next {
				one(i)
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

// isolatedModel evaluates m in worker p. crashed reports that p is gone;
// a model that passed the budget or killed its worker is a problem at its
// first file. entry is the result to remember, nil when it depends on
// more than the model (a budget, a visitor that did not run). The error is
// ctx's.
func isolatedModel(ctx context.Context, p *proc, fsys fs.FS, m *Model, own []sourceFile, vis *Visitor, visitOff *atomic.Bool) (problems []Problem, crashed bool, entry *cacheEntry, err error) {
	visit := vis != nil && !visitOff.Load()
	if err := p.send(request{Model: &modelRequest{Name: m.Name, Dir: m.Dir, Files: toWire(own), Visit: visit}}); err != nil {
		return nil, false, nil, err
	}
	r, err := p.recv(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, true, nil, ctx.Err()
		}
		return []Problem{{Model: m.Name, Pos: Position{File: own[0].name, Line: 1, Column: 1}, Message: unitMessage(err, "the model")}}, true, nil, nil
	}
	if r.Built {
		m.fsys = fsys
	}
	entry = &cacheEntry{files: m.Files, built: r.Built, problems: r.Problems}
	if len(r.Problems) > 0 {
		return r.Problems, false, entry, nil
	}
	first := Position{File: own[0].name, Line: 1, Column: 1}
	if err := decodeValue(r.Model, &m.Model); err != nil {
		m.Model = schema.Model{}
		return []Problem{{Model: m.Name, Pos: first, Message: "evaluating the model: " + err.Error()}}, false, nil, nil
	}
	if problems := nullEntries(m, first); len(problems) > 0 {
		m.Model = schema.Model{}
		return problems, false, nil, nil
	}
	entry.value = r.Model // what the cache keeps is what the worker sent
	problems = pathProblems(fsys, m)
	if vis != nil && !visit {
		entry = nil // the visitor was off: the entry would lack its result
	}
	if visit {
		// The worker runs the visitor on every model it found valid; its
		// result counts only when the paths are valid too, as in-process.
		timeout, stop := p.budget()
		var note []byte
		vr, err := p.recvBy(ctx, timeout)
		for err == nil && vr.Note != nil {
			note = vr.Note
			vr, err = p.recvBy(ctx, timeout)
		}
		stop()
		if err != nil {
			if ctx.Err() != nil {
				return nil, true, nil, ctx.Err()
			}
			crashed, entry = true, nil
			if len(problems) == 0 && !visitOff.Swap(true) {
				vis.Collect(m.Name, note, err)
			}
		} else {
			entry.visited, entry.visit = true, vr.Visit
			if len(problems) == 0 {
				vis.Collect(m.Name, vr.Visit, nil)
			}
		}
	}
	if len(problems) > 0 {
		return problems, crashed, entry, nil
	}
	m.Valid = true
	return nil, crashed, entry, nil
}
