package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
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

// TestHistoryBesideFetches: a model page reads the model's history while
// the loop fetches into the clone, merges its packs and drops their
// indexes. The history reads through a repository of its own: go-git's
// storages are not safe for concurrent use, so under -race sharing the
// loop's would fail here, and without it could crash the daemon with a
// concurrent map write. Every page is whole, and the last one shows the
// last promotion.
func TestHistoryBesideFetches(t *testing.T) {
	remote := gittest.NewRemote(t)
	files := quickstartFiles(t)
	first := remote.Seed(t, "main", files, "quick start")
	r := start(t, Options{Repo: remote.URL, StateDir: t.TempDir(), Interval: 5 * time.Millisecond, DriftInterval: time.Hour})
	r.waitStatus(t, "the first revision applied", func(s Status) bool { return s.AppliedRevision == first })
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		pages := 0
		defer func() { done <- pages }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := http.Get(r.srv.URL + "/models/churn-predictor")
			if err != nil {
				t.Error(err)
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `<table id="history">`) {
				t.Errorf("model page: %d %v\n%s", resp.StatusCode, err, body)
				return
			}
			pages++
		}
	}()
	// Promotions and their rollbacks, through more fetches than the clone
	// keeps packs for.
	var last string
	for i := range maxPacks + 4 {
		card, msg := churn(t, "1.5.0"), fmt.Sprintf("Promote churn-predictor 1.5.0 (%d)", i)
		if i%2 == 1 {
			card, msg = files["models/churn-predictor/model.cue"], fmt.Sprintf("Roll churn-predictor back to 1.4.0 (%d)", i)
		}
		last = remote.Seed(t, "main", map[string]string{"models/churn-predictor/model.cue": card}, msg)
		r.waitStatus(t, "revision "+last, func(s Status) bool { return s.AppliedRevision == last })
	}
	close(stop)
	pages := <-done
	assert.Positive(t, pages, "model pages read during the fetches")
	page := r.get(t, "/models/churn-predictor", http.StatusOK)
	assert.Contains(t, page, "<code>"+last[:12]+"</code> Roll churn-predictor back to 1.4.0")
	t.Logf("%d model pages beside %d fetches", pages, maxPacks+4)
}

// TestMergedPacksWaitForReads: packfiles merged while a read beside the
// loop holds the source stay on disk until it lets go; the next release
// deletes them.
func TestMergedPacksWaitForReads(t *testing.T) {
	remote := gittest.NewRemote(t)
	remote.Seed(t, "main", quickstartFiles(t), "quick start")
	r := &remoteSource{url: remote.URL, branch: "main", dir: filepath.Join(t.TempDir(), "repo")}
	require.NoError(t, r.start(context.Background(), testLogger(t)))
	packs := func() int {
		p, err := filepath.Glob(filepath.Join(r.dir, "objects", "pack", "*.pack"))
		require.NoError(t, err)
		return len(p)
	}
	fetch := func(i int) {
		remote.Seed(t, "main", map[string]string{fmt.Sprintf("notes/%d.txt", i): "a commit to fetch\n"}, fmt.Sprintf("note %d", i))
		src, err := r.latest(context.Background())
		require.NoError(t, err)
		src.Release()
	}
	done := r.reading()
	for i := range maxPacks - 1 {
		fetch(i)
	}
	require.Equal(t, maxPacks, packs(), "one pack from the clone, one per fetch")
	fetch(maxPacks) // one pack too many: they are merged
	assert.Equal(t, maxPacks+2, packs(), "the merged packs wait, beside the new one")
	r.release()
	assert.Equal(t, maxPacks+2, packs(), "released while the read holds the source")
	fetch(maxPacks + 1)
	assert.Equal(t, maxPacks+3, packs(), "the stale packs do not count toward the next merge")
	done()
	r.release()
	assert.Equal(t, 2, packs(), "the merged packs are deleted once the read let go")
}
