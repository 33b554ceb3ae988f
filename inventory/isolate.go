package inventory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
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

// wireFile is a source file on the wire.
type wireFile struct {
	Name string `json:"name"`
	Src  string `json:"src"`
}

func toWire(files []sourceFile) []wireFile {
	out := make([]wireFile, len(files))
	for i, f := range files {
		out[i] = wireFile{Name: f.name, Src: string(f.src)}
	}
	return out
}

func fromWire(files []wireFile) []sourceFile {
	out := make([]sourceFile, len(files))
	for i, f := range files {
		out[i] = sourceFile{name: f.Name, src: []byte(f.Src)}
	}
	return out
}

// request is one message from the parent to a worker; exactly one field
// is set.
type request struct {
	Init     *workerInit   `json:"init,omitempty"`
	Model    *modelRequest `json:"model,omitempty"`
	Settings *wireFile     `json:"settings,omitempty"`
	Job      *jobRequest   `json:"job,omitempty"`
}

type workerInit struct {
	Memory   int64      `json:"memory"`
	Recycle  int        `json:"recycle"`
	Defaults []wireFile `json:"defaults,omitempty"`
	Visitor  string     `json:"visitor,omitempty"`
	Config   []byte     `json:"config,omitempty"`
}

type modelRequest struct {
	Name  string     `json:"name"`
	Dir   string     `json:"dir"`
	Files []wireFile `json:"files"`
	Visit bool       `json:"visit,omitempty"`
}

type jobRequest struct {
	Name  string `json:"name"`
	Input []byte `json:"input"`
}

// response is one message from a worker. A model request gets one
// response, and a second with Visit when the model is valid and the
// visitor runs.
type response struct {
	Problems []Problem       `json:"problems,omitempty"`
	Built    bool            `json:"built,omitempty"`
	Value    json.RawMessage `json:"value,omitempty"` // the valid model or settings, as JSON
	Visit    []byte          `json:"visit,omitempty"`
	Output   []byte          `json:"output,omitempty"`
	Err      string          `json:"err,omitempty"`
	Visited  bool            `json:"visited,omitempty"`
	Note     []byte          `json:"note,omitempty"` // a VisitFunc's note, not a response
}

// ServeWorker serves the requests of the parent that started this process
// on stdin and stdout until stdin ends, and returns the exit code. Output
// to os.Stdout is moved to stderr, which the parent reads for one line
// when the worker dies. When the heap passes the memory budget the worker
// exits at once with a distinctive code.
func ServeWorker() int {
	out := bufio.NewWriter(os.Stdout)
	os.Stdout = os.Stderr
	enc := json.NewEncoder(out)
	dec := json.NewDecoder(bufio.NewReader(os.Stdin))
	w := &workerState{}
	send := func(r response) error {
		w.encMu.Lock()
		defer w.encMu.Unlock()
		if err := enc.Encode(r); err != nil {
			return err
		}
		return out.Flush()
	}
	go w.sendNotes(send)
	for {
		var req request
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintf(os.Stderr, "cairn worker: reading request: %v\n", err)
			return 1
		}
		if err := w.serve(&req, send); err != nil {
			fmt.Fprintf(os.Stderr, "cairn worker: %v\n", err)
			return 1
		}
	}
}

// workerState is what a worker keeps between requests.
type workerState struct {
	init     workerInit
	defaults []sourceFile
	visit    VisitFunc

	encMu sync.Mutex // guards the encoder of send
	// mu guards the note fields; sendNotes holds it while it sends, so that
	// no note follows the end of its visit.
	mu       sync.Mutex
	visiting bool
	note     []byte
	noteSent bool
	ev       *evaluator
	done     int
}

func (w *workerState) serve(req *request, send func(response) error) error {
	switch {
	case req.Init != nil:
		w.init = *req.Init
		w.defaults = fromWire(req.Init.Defaults)
		if w.init.Memory > 0 {
			debug.SetMemoryLimit(w.init.Memory)
			go watchHeap(w.init.Memory)
		}
		if os.Getenv("GOGC") == "" {
			// A worker's live heap is one cue.Context of at most Recycle
			// models: tens of MB. Collecting at five times that, not
			// twice, brings the collector's CPU time down to what one
			// process with a large heap spends; the limit above still
			// holds.
			debug.SetGCPercent(400)
		}
		if w.init.Visitor != "" {
			f, err := lookupVisitor(w.init.Visitor)
			if err != nil {
				return err
			}
			if w.visit, err = f(w.init.Config); err != nil {
				return err
			}
		}
		return nil
	case req.Model != nil:
		if err := w.evaluator(); err != nil {
			return err
		}
		mr := req.Model
		m := &Model{Name: mr.Name, Dir: mr.Dir}
		own := fromWire(mr.Files)
		for _, f := range own {
			m.Files = append(m.Files, f.name)
		}
		for _, d := range w.defaults {
			m.Files = append(m.Files, d.name)
		}
		problems, built, v := w.ev.evalModel(m, own, w.defaults)
		r := response{Problems: problems, Built: built}
		if len(problems) == 0 {
			b, err := v.MarshalJSON()
			if err != nil {
				r.Problems = cueProblems(m.Name, err, cue.Value{}, Position{File: m.Files[0], Line: 1, Column: 1})
			}
			r.Value = b
		}
		if err := send(r); err != nil {
			return err
		}
		if len(r.Problems) > 0 || !mr.Visit || w.visit == nil {
			return nil
		}
		w.mu.Lock()
		w.visiting, w.note = true, nil
		w.mu.Unlock()
		res := w.visit(m, v, w.setNote)
		w.mu.Lock()
		w.visiting = false
		w.mu.Unlock()
		return send(response{Visited: true, Visit: res})
	case req.Settings != nil:
		if err := w.evaluator(); err != nil {
			return err
		}
		problems, f, v, ok := w.ev.settings([]byte(req.Settings.Src))
		r := response{Problems: problems, Built: f != nil}
		if ok {
			b, err := v.MarshalJSON()
			if err != nil {
				r.Problems = cueProblems("", err, cue.Value{}, Position{File: SettingsFile, Line: 1, Column: 1})
			}
			r.Value = b
		}
		return send(r)
	case req.Job != nil:
		registryMu.Lock()
		f, ok := jobs[req.Job.Name]
		registryMu.Unlock()
		if !ok {
			return fmt.Errorf("no job %q is registered", req.Job.Name)
		}
		out, err := f(req.Job.Input)
		r := response{Output: out}
		if err != nil {
			r.Err = err.Error()
		}
		return send(r)
	}
	return errors.New("empty request")
}

// setNote records the note of the VisitFunc in hand; sendNotes sends it.
func (w *workerState) setNote(b []byte) {
	w.mu.Lock()
	w.note, w.noteSent = b, false
	w.mu.Unlock()
}

// sendNotes sends the note of a VisitFunc that has run for a while, so that
// the parent knows what it was doing should it pass the budget. Notes are
// sent lazily: a visit that finishes within the period costs no message.
func (w *workerState) sendNotes(send func(response) error) {
	for range time.Tick(100 * time.Millisecond) {
		w.mu.Lock()
		if w.visiting && w.note != nil && !w.noteSent {
			w.noteSent = true
			_ = send(response{Note: w.note})
		}
		w.mu.Unlock()
	}
}

// evaluator returns the worker's evaluator, a fresh one every Recycle
// models as Load does in-process.
func (w *workerState) evaluator() error {
	recycle := w.init.Recycle
	if recycle <= 0 {
		recycle = 64
	}
	if w.ev == nil || w.done >= recycle {
		ev, err := newEvaluator()
		if err != nil {
			return err
		}
		w.ev, w.done = ev, 0
	}
	w.done++
	return nil
}

// watchHeap ends the process when the Go heap passes limit bytes. It polls,
// since the runtime has no callback for it; at memory bandwidth the heap
// grows by a few hundred MB at most between two polls.
func watchHeap(limit int64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for range time.Tick(20 * time.Millisecond) {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 && int64(sample[0].Value.Uint64()) > limit {
			fmt.Fprintf(os.Stderr, "cairn worker: heap passed the memory budget of %s\n", FormatSize(limit))
			os.Exit(memoryExit)
		}
	}
}

// proc is a running worker process, seen from the parent.
type proc struct {
	iso    *Isolation
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	enc    *json.Encoder
	msgs   chan response
	stderr *tailBuffer
	exited chan struct{} // closed when Wait returned
	dead   chan struct{} // closed by stop
	once   sync.Once
}

// start starts a worker and sends it init.
func (iso *Isolation) start(init *workerInit) (*proc, error) {
	if len(iso.Command) == 0 {
		return nil, errors.New("isolation without a worker command")
	}
	cmd := exec.Command(iso.Command[0], iso.Command[1:]...)
	cmd.Env = append(os.Environ(), WorkerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("starting a worker: %w", err)
	}
	// An os.Pipe rather than StdoutPipe: Wait must not close what the
	// reader still reads.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("starting a worker: %w", err)
	}
	p := &proc{iso: iso, cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), msgs: make(chan response),
		stderr: &tailBuffer{}, exited: make(chan struct{}), dead: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = pw, p.stderr
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("starting a worker: %w", err)
	}
	pw.Close()
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	go func() {
		defer pr.Close()
		defer close(p.msgs)
		dec := json.NewDecoder(bufio.NewReader(pr))
		for {
			var r response
			if err := dec.Decode(&r); err != nil {
				return
			}
			select {
			case p.msgs <- r:
			case <-p.dead:
				return
			}
		}
	}()
	if err := p.send(request{Init: init}); err != nil {
		p.stop()
		return nil, fmt.Errorf("starting a worker: %w", err)
	}
	return p, nil
}

// send writes one request. A worker that died is noticed by recv.
func (p *proc) send(r request) error {
	p.stderr.reset()
	if err := p.enc.Encode(r); err != nil && !errors.Is(err, os.ErrClosed) && !errors.Is(err, syscall.EPIPE) {
		return err
	}
	return nil
}

// recv waits up to the time budget for the next response. The error is
// ctx's, a *BudgetError or a *WorkerError; after one the process is gone.
func (p *proc) recv(ctx context.Context) (response, error) {
	timeout, stop := p.budget()
	defer stop()
	return p.recvBy(ctx, timeout)
}

// budget returns a channel that fires when the time budget has passed.
func (p *proc) budget() (<-chan time.Time, func() bool) {
	if d := p.iso.Budget.Time; d > 0 {
		t := time.NewTimer(d)
		return t.C, t.Stop
	}
	return nil, func() bool { return false }
}

// recvBy waits for the next response until timeout fires.
func (p *proc) recvBy(ctx context.Context, timeout <-chan time.Time) (response, error) {
	select {
	case r, ok := <-p.msgs:
		if ok {
			return r, nil
		}
		<-p.exited
		p.stop()
		return response{}, p.failure()
	case <-timeout:
		p.stop()
		return response{}, &BudgetError{Resource: "time", Limit: p.iso.Budget.Time.String(), Hint: p.iso.TimeHint}
	case <-ctx.Done():
		p.stop()
		return response{}, ctx.Err()
	}
}

// failure explains why the process ended.
func (p *proc) failure() error {
	mem := &BudgetError{Resource: "memory", Limit: FormatSize(p.iso.Budget.Memory), Hint: p.iso.MemoryHint}
	if st := p.cmd.ProcessState; st != nil && st.ExitCode() == memoryExit {
		return mem
	}
	text := p.stderr.String()
	// A single allocation larger than the machine can give ends the Go
	// runtime before the watchdog sees it.
	if p.iso.Budget.Memory > 0 && strings.Contains(text, "out of memory") {
		return mem
	}
	line := firstLine(text)
	if line == "" {
		line = "exited with " + p.cmd.ProcessState.String()
	}
	return &WorkerError{Line: line}
}

// firstLine returns the first line of a crash report that says why: a
// "fatal error:" or "panic:" line, else the first non-empty line.
func firstLine(s string) string {
	lines := strings.Split(s, "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") {
			return strings.TrimSpace(l)
		}
	}
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// stop kills the process and releases its goroutines.
func (p *proc) stop() {
	p.once.Do(func() {
		close(p.dead)
		_ = p.cmd.Process.Kill()
		_ = p.stdin.Close()
		<-p.exited
	})
}

// close ends the worker: stdin closed, it exits; killed if it does not
// within a second.
func (p *proc) close() {
	_ = p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(time.Second):
	}
	p.stop()
}

// tailBuffer keeps what a worker writes to stderr since the last request,
// up to 64 KiB.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := 64<<10 - t.buf.Len(); room > 0 {
		t.buf.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

func (t *tailBuffer) reset() {
	t.mu.Lock()
	t.buf.Reset()
	t.mu.Unlock()
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

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
	var p *proc
	defer func() {
		if p != nil {
			p.close()
		}
	}()
	for i, in := range inputs {
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
		}
	}
	return out, nil
}

// loadSettingsIsolated evaluates inventory.cue in a worker. A worker that
// passes the budget or dies is a problem at inventory.cue, and the settings
// are the schema's defaults.
func (inv *Inventory) loadSettingsIsolated(ctx context.Context, iso *Isolation, src []byte) error {
	p, err := iso.start(&workerInit{Memory: iso.Budget.Memory})
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.send(request{Settings: &wireFile{Name: SettingsFile, Src: string(src)}}); err != nil {
		return err
	}
	r, err := p.recv(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r = response{Problems: []Problem{{Pos: Position{File: SettingsFile, Line: 1, Column: 1}, Message: unitMessage(err, SettingsFile)}}}
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

// evaluateIsolated evaluates the models in worker processes, up to
// opts.Workers at once, each worker one model at a time. Files are read
// here and sent to the worker; paths the model names are checked here.
func evaluateIsolated(ctx context.Context, fsys fs.FS, defaults []sourceFile, models []*Model, problems [][]Problem, opts Options) error {
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
			for i := range next {
				m := models[i]
				own, probs, err := readModel(fsys, defaults, m)
				if err != nil {
					fail(err)
					continue
				}
				if len(probs) > 0 {
					problems[i] = probs
					continue
				}
				if p == nil {
					if p, err = iso.start(init); err != nil {
						fail(err)
						continue
					}
				}
				var crashed bool
				problems[i], crashed, err = isolatedModel(ctx, p, fsys, m, own, opts.Visitor, &visitOff)
				if err != nil {
					fail(err)
				}
				if crashed {
					p = nil
				}
			}
		}()
	}
	var err error
feed:
	for i := range models {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err != nil {
		return err
	}
	return firstErr
}

// isolatedModel evaluates m in worker p. crashed reports that p is gone;
// a model that passed the budget or killed its worker is a problem at its
// first file. The error is ctx's.
func isolatedModel(ctx context.Context, p *proc, fsys fs.FS, m *Model, own []sourceFile, vis *Visitor, visitOff *atomic.Bool) (problems []Problem, crashed bool, err error) {
	visit := vis != nil && !visitOff.Load()
	if err := p.send(request{Model: &modelRequest{Name: m.Name, Dir: m.Dir, Files: toWire(own), Visit: visit}}); err != nil {
		return nil, false, err
	}
	r, err := p.recv(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, true, ctx.Err()
		}
		return []Problem{{Model: m.Name, Pos: Position{File: own[0].name, Line: 1, Column: 1}, Message: unitMessage(err, "the model")}}, true, nil
	}
	if r.Built {
		m.fsys = fsys
	}
	if len(r.Problems) > 0 {
		return r.Problems, false, nil
	}
	if err := json.Unmarshal(r.Value, &m.Model); err != nil {
		return []Problem{{Model: m.Name, Pos: Position{File: own[0].name, Line: 1, Column: 1}, Message: err.Error()}}, false, nil
	}
	problems = pathProblems(fsys, m)
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
				return nil, true, ctx.Err()
			}
			crashed = true
			if len(problems) == 0 && !visitOff.Swap(true) {
				vis.Collect(m.Name, note, err)
			}
		} else if len(problems) == 0 {
			vis.Collect(m.Name, vr.Visit, nil)
		}
	}
	if len(problems) > 0 {
		return problems, crashed, nil
	}
	m.Valid = true
	return nil, crashed, nil
}
