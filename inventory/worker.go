package inventory

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	"cuelang.org/go/cue"
)

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
			// The Go value in the cache's form: the parent decodes it
			// faster than JSON, and keeps these bytes in the cache.
			b, err := encodeValue(nil, &m.Model)
			if err != nil {
				r.Problems = []Problem{{Model: m.Name, Pos: Position{File: m.Files[0], Line: 1, Column: 1}, Message: "evaluating the model: " + err.Error()}}
			}
			r.Model = b
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
		inv := &Inventory{}
		v := inv.evalSettings(w.ev, []byte(req.Settings.Src))
		r := response{Problems: inv.Problems, Built: inv.settingsPos != nil}
		if inv.SettingsOK {
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
