package reconciler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cairnops/cairn/internal/atomicfile"
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
// and fsyncs it. The daemon uses it to record changes of an interrupted
// apply after a restart.
func AppendAudit(dir string, entries []AuditEntry) error {
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
	var out []AuditEntry
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e AuditEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return out, fmt.Errorf("%s:%d: %w", AuditFile, i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}
