package daemon

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/gittest"
	"github.com/cairnops/cairn/internal/kubetest"
	"github.com/cairnops/cairn/inventory"
)

// TestMain makes the test binary its own evaluation worker, and stops the
// API server that the leader election tests start.
func TestMain(m *testing.M) {
	if inventory.IsWorker() {
		os.Exit(inventory.ServeWorker())
	}
	kubetest.Main(m)
}

// TestBombRevisionIsRefused: with Load.Isolate, a revision whose model passes
// the memory budget is refused with a finding at the model, and the daemon
// carries on with the last good revision.
func TestBombRevisionIsRefused(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	iso := &inventory.Isolation{Command: []string{exe}, Budget: inventory.Budget{Time: time.Minute, Memory: 256 << 20}}
	remote := gittest.NewRemote(t)
	first := remote.Seed(t, "main", quickstartFiles(t), "quick start")
	r := start(t, Options{Repo: remote.URL, StateDir: t.TempDir(), Interval: time.Hour, DriftInterval: time.Hour, WebhookSecret: secret, Load: inventory.Options{Isolate: iso}})
	r.waitStatus(t, "the first revision applied", func(s Status) bool { return s.AppliedRevision == first })

	var b strings.Builder
	b.WriteString("package model\n\n_s0: \"ab\"\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "_s%d: _s%d + _s%d\n", i, i-1, i-1)
	}
	bad := remote.Seed(t, "main", map[string]string{"models/bomb/model.cue": b.String()}, "add a bomb")
	body := pushBody("main", bad)
	require.Equal(t, http.StatusAccepted, hook(t, r.srv.URL, "push", sign(secret, body), body))
	s := r.waitStatus(t, "the bomb refused", func(s Status) bool { return s.Revision == bad && s.LastError != "" })
	assert.Equal(t, first, s.AppliedRevision)
	require.NotEmpty(t, s.Findings)
	assert.Equal(t, "bomb", s.Findings[0].Model)
	assert.Contains(t, s.Findings[0].Message, "evaluation passed the memory budget of 256MiB")
}
