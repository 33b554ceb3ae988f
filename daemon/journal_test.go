package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/artifact"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
)

// TestRecoverRecordsCompletedChanges stops an apply at the worst moment:
// the target has changed, audit.jsonl has not been written. The next
// reconcile records exactly the completed changes, once.
func TestRecoverRecordsCompletedChanges(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(quickstartDir(t))))
	state := t.TempDir()
	d, err := New(Options{Repo: dir, StateDir: state, Logger: testLogger(t), Trust: exampleTrust(t), Now: func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }})
	require.NoError(t, err)
	ctx := t.Context()
	src, err := inventory.OpenWorktree(dir)
	require.NoError(t, err)
	inv, err := inventory.Load(ctx, src, inventory.Options{})
	require.NoError(t, err)
	ropts := d.reconcilerOptions()

	// The journal is written, then staging-local alone is changed: the
	// process dies before the other targets and before any audit line.
	require.NoError(t, d.journal(ctx, inv, ropts))
	j, err := readJournal(state)
	require.NoError(t, err)
	require.Len(t, j.Changes, 5)
	bs, err := reconciler.Bindings(inv, ropts)
	require.NoError(t, err)
	for _, b := range bs {
		if b.Name == "staging-local" {
			_, err := b.Driver.Apply(ctx, inv.Source.Revision, reconciler.Desired(inv, b.Stage), artifact.NewOpener(src, nil).Target())
			require.NoError(t, err)
		}
	}
	audit, err := reconciler.Audit(state)
	require.NoError(t, err)
	require.Empty(t, audit)

	require.NoError(t, d.recover(ctx, inv, ropts))
	audit, err = reconciler.Audit(state)
	require.NoError(t, err)
	var got []string
	for _, e := range audit {
		got = append(got, strings.Join([]string{e.Target, e.Model, e.Action, e.To, e.Result}, " "))
	}
	assert.Equal(t, []string{
		"staging-local churn-predictor created 1.4.0 " + recoveredResult,
		"staging-local fraud-detector created 2.3.0 " + recoveredResult,
	}, got)
	_, err = os.Stat(filepath.Join(state, JournalFile))
	assert.ErrorIs(t, err, os.ErrNotExist)

	// The daemon's reconcile then applies the rest, recording only that.
	assert.Equal(t, ResultApplied, d.reconcileOnce(ctx))
	audit, err = reconciler.Audit(state)
	require.NoError(t, err)
	got = nil
	for _, e := range audit[2:] {
		got = append(got, strings.Join([]string{e.Target, e.Model, e.Action, e.To}, " "))
	}
	assert.Equal(t, []string{
		"dev-local churn-predictor created 1.5.0",
		"dev-local demand-forecast created 0.3.0",
		"prod-local fraud-detector created 2.3.0",
	}, got)

	// A journal whose changes are already recorded adds nothing.
	require.NoError(t, writeFileSync(state, JournalFile, []byte(`{"revision":"worktree","changes":[{"target":"dev-local","model":"churn-predictor","action":"created","to":"1.5.0"}]}`)))
	require.NoError(t, d.recover(ctx, inv, ropts))
	again, err := reconciler.Audit(state)
	require.NoError(t, err)
	assert.Len(t, again, len(audit))
}
