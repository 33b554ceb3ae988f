package inventory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

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
	Value    json.RawMessage `json:"value,omitempty"` // the valid settings, as JSON
	Model    []byte          `json:"model,omitempty"` // the valid model (encodeValue)
	Visit    []byte          `json:"visit,omitempty"`
	Output   []byte          `json:"output,omitempty"`
	Err      string          `json:"err,omitempty"`
	Visited  bool            `json:"visited,omitempty"`
	Note     []byte          `json:"note,omitempty"` // a VisitFunc's note, not a response
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
	if iso.OnStart != nil {
		iso.OnStart()
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
			// What the worker wrote so far did not end it.
			p.stderr.reset()
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

// tailBuffer keeps what a worker writes to stderr since its last response,
// up to 64 KiB: a crash report starts with the line that says why.
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
