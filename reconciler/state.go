package reconciler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cairnops/cairn/internal/atomicfile"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/targets"
)

// StatesFile is the file in the state directory that records, per target,
// the last attempted and applied revisions.
const StatesFile = "targets.json"

// AuditFile is the append-only audit log in the state directory, one JSON
// object per line.
const AuditFile = "audit.jsonl"

// TargetState is what the reconciler recorded for one target. Unlike the
// target's own state, it records an attempt even when the revision was
// refused before the target was touched.
type TargetState struct {
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	LastAppliedRevision   string `json:"lastAppliedRevision,omitempty"`
	// Result is "applied", "failed: <why>" or "refused: <why>" for the last attempt.
	Result string `json:"result,omitempty"`
}

// AuditEntry is one line of audit.jsonl: one change to one target, or one
// refused attempt (Action "refused", no Model). Approvers are the logins
// whose approvals of the revision's pull request count (from its receipt).
type AuditEntry struct {
	Time      time.Time `json:"time"`
	Revision  string    `json:"revision"`
	Target    string    `json:"target"`
	Model     string    `json:"model,omitempty"`
	Action    string    `json:"action"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Digest    string    `json:"digest,omitempty"`
	Signer    string    `json:"signer,omitempty"`
	Approvers []string  `json:"approvers"`
	Result    string    `json:"result"`
	// Receipt is the change's signed receipt, relative to the state
	// directory (receipts/...), when one was issued.
	Receipt string `json:"receipt,omitempty"`
}

// States returns the target states recorded in dir; an empty map when none were.
func States(dir string) (map[string]TargetState, error) { return loadStates(dir) }

func loadStates(dir string) (map[string]TargetState, error) {
	st := map[string]TargetState{}
	if dir == "" {
		return st, nil
	}
	data, err := os.ReadFile(filepath.Join(dir, StatesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading target states: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", filepath.Join(dir, StatesFile), err)
	}
	return st, nil
}

// writeStates replaces targets.json atomically and durably when its content changes.
func writeStates(dir string, st map[string]TargetState) error {
	if dir == "" {
		return nil
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding target states: %w", err)
	}
	data = append(data, '\n')
	name := filepath.Join(dir, StatesFile)
	if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	if err := atomicfile.Write(name, data, 0o600); err != nil {
		return fmt.Errorf("writing target states: %w", err)
	}
	return nil
}

// AppendAudit appends entries to dir's audit.jsonl, one JSON object a line,
// and fsyncs it; then, when also is not nil, writes the same lines to also
// (the daemon's stdout). An error writing to also is returned after the
// file has them. The daemon uses it to record changes of an interrupted
// apply after a restart.
func AppendAudit(dir string, also io.Writer, entries []AuditEntry) error {
	if dir == "" || len(entries) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("encoding audit entry: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, AuditFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening audit log: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	if also != nil {
		if _, err := also.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("writing audit lines: %w", err)
		}
	}
	return nil
}

// Audit returns the entries of dir's audit log in order; none when it does not exist.
func Audit(dir string) ([]AuditEntry, error) {
	data, err := os.ReadFile(filepath.Join(dir, AuditFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading audit log: %w", err)
	}
	return decodeAudit(data, 1, nil)
}

// decodeAudit appends the entries of data, lines of audit.jsonl whose
// first is line number first, to out.
func decodeAudit(data []byte, first int, out []AuditEntry) ([]AuditEntry, error) {
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e AuditEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return out, fmt.Errorf("%s:%d: %w", AuditFile, first+i, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// AuditReader reads dir's audit log as it grows: each Read returns the
// entries appended since the one before, up to about auditChunk bytes of
// them, so that a reader that keeps what it needs of them, not all of
// them, reads each line once and holds a bounded part of the log at a time.
type AuditReader struct {
	// Dir is the state directory.
	Dir string

	off  int64 // the bytes read: whole lines
	line int   // the lines read
}

// auditChunk is about how many bytes of the log one Read decodes.
const auditChunk = 1 << 20

// Read returns whole lines appended since the last Read: none when there
// are no more. restart is true when the log is shorter than what was read
// (it was replaced): the entries are then the new log's from its start,
// and what the caller kept of the old one is stale. A line not yet ended
// waits for the next Read; a line that does not decode stops the reading
// before it, with the error.
func (r *AuditReader) Read() (entries []AuditEntry, restart bool, err error) {
	f, err := os.Open(filepath.Join(r.Dir, AuditFile))
	if errors.Is(err, fs.ErrNotExist) {
		restart = r.off > 0
		r.off, r.line = 0, 0
		return nil, restart, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading audit log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("reading audit log: %w", err)
	}
	if fi.Size() < r.off {
		restart = true
		r.off, r.line = 0, 0
	}
	if fi.Size() == r.off {
		return nil, restart, nil
	}
	data := make([]byte, min(fi.Size()-r.off, auditChunk))
	for {
		n, err := f.ReadAt(data, r.off)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, restart, fmt.Errorf("reading audit log: %w", err)
		}
		if end := bytes.LastIndexByte(data[:n], '\n') + 1; end > 0 || n < len(data) {
			data = data[:end]
			break
		}
		// A line longer than the chunk.
		data = make([]byte, 2*len(data))
	}
	if entries, err = decodeAudit(data, r.line+1, nil); err != nil {
		return nil, restart, err
	}
	r.off += int64(len(data))
	r.line += bytes.Count(data, []byte("\n"))
	return entries, restart, nil
}

// AppliedReader is a Target that records the revision of its last completed
// apply itself — a local target in <path>/.cairn/state.json — so that a
// replica whose state directory is new (a leader after a failover) reads
// it back instead of applying that revision again (see ReadBack for the
// targets that do not).
type AppliedReader interface {
	// LastAppliedRevision returns the revision of the last apply that
	// completed on the target; empty when there was none.
	LastAppliedRevision(ctx context.Context) (string, error)
}

// ReadBackResult is the Result recorded in targets.json for a revision read
// back from the target.
const ReadBackResult = "applied (read back from the target)"

// ReadBack records in <StateDir>/targets.json what every drivable target of
// inv applied, as the target itself tells, where the state directory says
// otherwise: the target is what knows what it serves. A target that
// records its last applied revision (AppliedReader) tells that revision;
// any other target (kserve, whose objects carry the revision that last
// wrote each of them) tells inv's revision when its plan for it changes
// nothing. It returns the names of the targets updated; the error is a
// target that cannot be read or I/O on the state directory.
func ReadBack(ctx context.Context, inv *inventory.Inventory, opts Options) ([]string, error) {
	bs, err := Bindings(inv, opts)
	if err != nil {
		return nil, err
	}
	st, err := loadStates(opts.StateDir)
	if err != nil {
		return nil, err
	}
	var updated []string
	for _, b := range bs {
		if b.Driver == nil {
			continue
		}
		ts := st[b.Name]
		rev, err := appliedRevision(ctx, inv, b, ts)
		if err != nil {
			return updated, fmt.Errorf("reading back target %s: %w", b.Name, err)
		}
		if rev == "" || rev == ts.LastAppliedRevision {
			continue
		}
		ts.LastAppliedRevision, ts.Result = rev, ReadBackResult
		if ts.LastAttemptedRevision == "" {
			ts.LastAttemptedRevision = rev
		}
		st[b.Name] = ts
		updated = append(updated, b.Name)
	}
	if len(updated) == 0 {
		return nil, nil
	}
	return updated, writeStates(opts.StateDir, st)
}

// appliedRevision is what b tells it applied last; empty when it cannot say.
func appliedRevision(ctx context.Context, inv *inventory.Inventory, b Binding, ts TargetState) (string, error) {
	if r, ok := b.Driver.(AppliedReader); ok {
		return r.LastAppliedRevision(ctx)
	}
	rev := inv.Source.Revision
	if rev == inventory.Worktree || rev == ts.LastAppliedRevision {
		return "", nil
	}
	cs, err := b.Driver.Plan(ctx, Desired(inv, b.Stage))
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.Action != targets.Unchanged {
			return "", nil
		}
	}
	return rev, nil
}
