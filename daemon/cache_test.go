package daemon

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/inventory"
)

// TestRestartServedFromCache: a daemon that starts on an inventory another
// daemon has evaluated, with the same cache, evaluates none of its models,
// and applies the same.
func TestRestartServedFromCache(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(quickstartDir(t))))
	cache := &inventory.Cache{Dir: t.TempDir()}
	loaded := func(r *running) *inventory.Inventory {
		r.waitStatus(t, "the work tree applied", func(s Status) bool { return s.AppliedRevision != "" })
		r.d.mu.Lock()
		defer r.d.mu.Unlock()
		return r.d.st.loaded
	}
	first := start(t, Options{Repo: dir, StateDir: t.TempDir(), Interval: time.Hour, DriftInterval: time.Hour,
		Load: inventory.Options{Cache: cache}})
	inv := loaded(first)
	require.NotEmpty(t, inv.Models)
	assert.Zero(t, inv.Cached)

	state := t.TempDir()
	second := start(t, Options{Repo: dir, StateDir: state, Interval: time.Hour, DriftInterval: time.Hour,
		Load: inventory.Options{Cache: cache}})
	again := loaded(second)
	assert.Equal(t, len(inv.Models), again.Cached, "every model comes from the cache")
	assert.Equal(t, "1.4.0", current(t, state, "staging", "churn-predictor"))
}
