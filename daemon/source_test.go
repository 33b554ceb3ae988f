package daemon

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/gittest"
)

// TestPacksStayBounded: every fetch adds a packfile to the clone; past
// maxPacks they are merged into one, and the daemon goes on reading every
// revision from the clone opened again.
func TestPacksStayBounded(t *testing.T) {
	remote := gittest.NewRemote(t)
	first := remote.Seed(t, "main", quickstartFiles(t), "quick start")
	state := t.TempDir()
	r := start(t, Options{Repo: remote.URL, StateDir: state, Interval: 20 * time.Millisecond, DriftInterval: time.Hour})
	r.waitStatus(t, "the first revision applied", func(s Status) bool { return s.AppliedRevision == first })
	most := 0
	for i := range 2*maxPacks + 3 {
		rev := remote.Seed(t, "main", map[string]string{fmt.Sprintf("notes/%d.txt", i): "a commit to fetch\n"}, fmt.Sprintf("note %d", i))
		r.waitStatus(t, "revision "+rev, func(s Status) bool { return s.AppliedRevision == rev })
		packs, err := filepath.Glob(filepath.Join(state, "repo", "objects", "pack", "*.pack"))
		require.NoError(t, err)
		most = max(most, len(packs))
	}
	assert.LessOrEqual(t, most, maxPacks+1, "packfiles in the clone")
	t.Logf("at most %d packfiles over %d fetches", most, 2*maxPacks+3)
}
