package reconciler_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/reconciler"
)

// TestAuditReader reads the audit log as it grows: each Read returns only
// the lines appended since the last, a line not yet ended waits, a
// replaced log starts over, and a damaged line is named by its number.
func TestAuditReader(t *testing.T) {
	dir := t.TempDir()
	entry := func(model string) reconciler.AuditEntry {
		return reconciler.AuditEntry{Time: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), Revision: "abc", Target: "prod",
			Model: model, Action: "updated", Result: "applied"}
	}
	models := func(es []reconciler.AuditEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Model)
		}
		return out
	}
	r := &reconciler.AuditReader{Dir: dir}
	es, restart, err := r.Read()
	require.NoError(t, err)
	assert.Empty(t, es, "no log yet")
	assert.False(t, restart)

	require.NoError(t, reconciler.AppendAudit(dir, nil, []reconciler.AuditEntry{entry("a"), entry("b")}))
	es, _, err = r.Read()
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, models(es))
	es, _, err = r.Read()
	require.NoError(t, err)
	assert.Empty(t, es, "nothing new")

	require.NoError(t, reconciler.AppendAudit(dir, nil, []reconciler.AuditEntry{entry("c")}))
	log := filepath.Join(dir, reconciler.AuditFile)
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"model":"d"`)
	require.NoError(t, err)
	es, _, err = r.Read()
	require.NoError(t, err)
	assert.Equal(t, []string{"c"}, models(es), "the line being written waits")
	_, err = f.WriteString(`,"target":"prod","action":"updated"}` + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	es, _, err = r.Read()
	require.NoError(t, err)
	assert.Equal(t, []string{"d"}, models(es))

	require.NoError(t, os.Remove(log))
	require.NoError(t, reconciler.AppendAudit(dir, nil, []reconciler.AuditEntry{entry("e")}))
	es, restart, err = r.Read()
	require.NoError(t, err)
	assert.True(t, restart, "a shorter log is another log")
	assert.Equal(t, []string{"e"}, models(es))

	f, err = os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString("not json\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, _, err = r.Read()
	assert.ErrorContains(t, err, "audit.jsonl:2: ")
	all, err := reconciler.Audit(dir)
	assert.ErrorContains(t, err, "audit.jsonl:2: ")
	assert.Equal(t, []string{"e"}, models(all))
}
