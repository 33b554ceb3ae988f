package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cairnops/cairn/internal/atomicfile"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/targets"
)

// JournalFile is the file in the state directory that holds the changes of
// the apply in hand. reconciler.Apply appends its audit entries after the
// targets are changed, so a process killed in between would lose the
// entries of changes it completed; the journal lets the next start record
// them (and only them: a change that already has its entry, or that the
// target does not show, is left alone).
const JournalFile = "daemon-inflight.json"

// recoveredResult is the audit result of a change recorded from the journal.
const recoveredResult = "applied (recorded after restart)"

type journalEntry struct {
	Revision string          `json:"revision"`
	Changes  []journalChange `json:"changes"`
}

type journalChange struct {
	Target string `json:"target"`
	targets.Change
}

// journal writes the changes Apply is about to make to JournalFile, fsync'd.
func (d *Daemon) journal(ctx context.Context, inv *inventory.Inventory, ropts reconciler.Options) error {
	plan, err := reconciler.MakePlan(ctx, inv, ropts)
	if err != nil {
		return err
	}
	j := journalEntry{Revision: inv.Source.Revision}
	for _, tp := range plan.Targets {
		for _, c := range tp.Changes {
			if c.Action != targets.Unchanged && c.Action != targets.Skipped {
				j.Changes = append(j.Changes, journalChange{Target: tp.Target, Change: c})
			}
		}
	}
	if len(j.Changes) == 0 {
		return clearJournal(d.opts.StateDir)
	}
	data, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encoding journal: %w", err)
	}
	return writeFileSync(d.opts.StateDir, JournalFile, data)
}

// writeFileSync replaces dir/name with data atomically and durably.
func writeFileSync(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, name), data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// readJournal returns the journal, nil when there is none.
func readJournal(dir string) (*journalEntry, error) {
	data, err := os.ReadFile(filepath.Join(dir, JournalFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading journal: %w", err)
	}
	var j journalEntry
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", JournalFile, err)
	}
	return &j, nil
}

func clearJournal(dir string) error {
	err := os.Remove(filepath.Join(dir, JournalFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing journal: %w", err)
	}
	return nil
}

// recover records the audit entries of journalled changes that the targets
// show completed but audit.jsonl lacks, then removes the journal.
func (d *Daemon) recover(ctx context.Context, inv *inventory.Inventory, ropts reconciler.Options) error {
	j, err := readJournal(d.opts.StateDir)
	if err != nil || j == nil {
		return err
	}
	audit, err := reconciler.Audit(d.opts.StateDir)
	if err != nil {
		return err
	}
	recorded := map[string]bool{}
	for _, e := range audit {
		recorded[auditKey(e.Revision, e.Target, e.Model, e.Action, e.To)] = true
	}
	bs, err := reconciler.Bindings(inv, reconciler.Options{TargetRoot: ropts.TargetRoot})
	if err != nil {
		return err
	}
	drivers := map[string]reconciler.Target{}
	for _, b := range bs {
		if b.Driver != nil {
			drivers[b.Name] = b.Driver
		}
	}
	observed := map[string]map[string]targets.Deployed{}
	now := d.opts.Now().UTC()
	var entries []reconciler.AuditEntry
	for _, c := range j.Changes {
		if recorded[auditKey(j.Revision, c.Target, c.Model, string(c.Action), c.To)] {
			continue
		}
		drv, ok := drivers[c.Target]
		if !ok {
			continue
		}
		obs, ok := observed[c.Target]
		if !ok {
			deployed, err := drv.Observe(ctx, nil)
			if err != nil {
				return fmt.Errorf("observing target %s: %w", c.Target, err)
			}
			obs = map[string]targets.Deployed{}
			for _, o := range deployed {
				obs[o.Name] = o
			}
			observed[c.Target] = obs
		}
		o, present := obs[c.Model]
		done := false
		switch c.Action {
		case targets.Deleted:
			done = !present || o.Version == ""
		default:
			done = present && o.Version == c.To && len(o.Corrupt) == 0 && (c.Digest == "" || o.Digest == c.Digest)
		}
		if !done {
			continue
		}
		entries = append(entries, reconciler.AuditEntry{Time: now, Revision: j.Revision, Target: c.Target, Model: c.Model,
			Action: string(c.Action), From: c.From, To: c.To, Digest: c.Digest, Approvers: []string{}, Result: recoveredResult})
	}
	if err := reconciler.AppendAudit(d.opts.StateDir, d.opts.Audit, entries); err != nil {
		return err
	}
	if len(entries) > 0 {
		d.log.Warn("recorded changes of an interrupted apply", "revision", inventory.ShortHash(j.Revision), "entries", len(entries))
	}
	return clearJournal(d.opts.StateDir)
}

func auditKey(rev, tgt, model, action, to string) string {
	return rev + "\x00" + tgt + "\x00" + model + "\x00" + action + "\x00" + to
}
