package daemon

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/page"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/schema"
)

// TestAuditLogStaysBounded appends a thousand and more entries to the audit log
// (applies, refusals, applies that failed part of the way) and reads it as
// the daemon does after each: what it keeps stays bounded, the index shows
// the last recentAudit entries, and the targets show the same times as
// when the whole log is read.
func TestAuditLogStaysBounded(t *testing.T) {
	dir := t.TempDir()
	d := &Daemon{opts: Options{StateDir: dir}}
	settings := schema.Settings{Targets: map[string]schema.Target{"dev": {Stage: "staging"}, "prod": {Stage: "production"}}}
	states := map[string]reconciler.TargetState{}
	rng := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 500 {
		rev := fmt.Sprintf("rev%04d", i)
		var entries []reconciler.AuditEntry
		for _, target := range []string{"dev", "prod"} {
			at = at.Add(time.Minute)
			switch rng.IntN(5) {
			case 0:
				entries = append(entries, reconciler.AuditEntry{Time: at, Revision: rev, Target: target, Action: "refused", Result: "refused: bad pin"})
			case 1: // one change applied, the next failed: the target keeps its revision
				entries = append(entries,
					reconciler.AuditEntry{Time: at, Revision: rev, Target: target, Model: "a", Action: "updated", Result: "applied"},
					reconciler.AuditEntry{Time: at, Revision: rev, Target: target, Model: "b", Action: "updated", Result: "failed: disk full"})
			default:
				for _, m := range []string{"a", "b", "c"}[:1+rng.IntN(3)] {
					entries = append(entries, reconciler.AuditEntry{Time: at, Revision: rev, Target: target, Model: m, Action: "updated", Result: "applied"})
				}
				states[target] = reconciler.TargetState{LastAppliedRevision: rev, LastAttemptedRevision: rev, Result: "applied"}
			}
		}
		require.NoError(t, reconciler.AppendAudit(dir, nil, entries))
		if rng.IntN(3) == 0 {
			continue // several applies between two reads
		}
		writeTestStates(t, dir, states)
		recent, byTarget, err := d.auditLog()
		require.NoError(t, err)
		all, err := reconciler.Audit(dir)
		require.NoError(t, err)
		require.Equal(t, all[max(0, len(all)-recentAudit):], recent)
		require.Equal(t, page.Targets(settings, states, all), page.Targets(settings, states, byTarget), "after %s", rev)
	}
	for name, ta := range d.pages.byTarget {
		assert.LessOrEqual(t, len(ta.applied), 2, "applied revisions kept of %s", name)
	}
	assert.Len(t, d.pages.recent, recentAudit)
}

// writeTestStates writes targets.json as the reconciler does.
func writeTestStates(t *testing.T, dir string, st map[string]reconciler.TargetState) {
	t.Helper()
	data, err := json.Marshal(st)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, reconciler.StatesFile), data, 0o600))
}
