package daemon

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/signing"
)

// wait is how long a test waits for the daemon to reach a state; a test
// that needs it all has failed anyway.
const wait = 60 * time.Second

// quickstartDir returns the path of examples/quickstart.
func quickstartDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "examples", "quickstart")
}

// quickstartFiles returns every file of examples/quickstart by slash path.
func quickstartFiles(t *testing.T) map[string]string {
	t.Helper()
	dir := quickstartDir(t)
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	}))
	return files
}

// churn returns the churn-predictor card with staging pinned to version.
func churn(t *testing.T, staging string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(quickstartDir(t), "models", "churn-predictor", "model.cue"))
	require.NoError(t, err)
	s := strings.Replace(string(b), `staging:     "1.4.0"`, `staging:     "`+staging+`"`, 1)
	require.NotEqual(t, string(b), s, "quickstart churn-predictor no longer pins staging 1.4.0")
	return s
}

// testLogger writes the daemon's log to the test log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// exampleTrust is the trust root of the quickstart's signed production
// version: its public key, as the operator passes it.
func exampleTrust(t *testing.T) signing.Trust {
	t.Helper()
	k, err := signing.LoadPublicKey(filepath.Join(quickstartDir(t), "keys", "cairn-example.pub"))
	require.NoError(t, err)
	return signing.Trust{Keys: []crypto.PublicKey{k}}
}

// running is a daemon running in the test with its HTTP API.
type running struct {
	d   *Daemon
	srv *httptest.Server
}

// start runs a daemon with opts until the test ends.
func start(t *testing.T, opts Options) *running {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if !gate.Trusted(opts.Trust) {
		opts.Trust = exampleTrust(t)
	}
	d, err := New(opts)
	require.NoError(t, err)
	srv := httptest.NewServer(d.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		srv.Close()
	})
	return &running{d: d, srv: srv}
}

// status fetches /api/v1/status.
func (r *running) status(t *testing.T) Status {
	t.Helper()
	var s Status
	require.NoError(t, json.Unmarshal([]byte(r.get(t, "/api/v1/status", http.StatusOK)), &s))
	return s
}

// get fetches path and requires the status code.
func (r *running) get(t *testing.T, path string, code int) string {
	t.Helper()
	resp, err := http.Get(r.srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, code, resp.StatusCode, "%s: %s", path, b)
	return string(b)
}

// waitStatus waits until cond holds for /api/v1/status and returns it.
func (r *running) waitStatus(t *testing.T, what string, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		s := r.status(t)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: status %+v", what, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sign returns the X-Hub-Signature-256 of body under secret.
func sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// hook posts a GitHub webhook to url and returns the status code.
func hook(t *testing.T, url, event, signature string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/hooks/github", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("X-Hub-Signature-256", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// pushBody is a push event's payload for branch at sha.
func pushBody(branch, sha string) []byte {
	b, _ := json.Marshal(map[string]any{"ref": "refs/heads/" + branch, "after": sha,
		"repository": map[string]any{"full_name": "acme/model-inventory"}})
	return b
}

// current returns the version a local target serves for model.
func current(t *testing.T, stateDir, target, model string) string {
	t.Helper()
	v, err := os.Readlink(filepath.Join(stateDir, "targets", target, model, "current"))
	require.NoError(t, err)
	return v
}

// metricLine returns the line of /metrics that starts with prefix, or "".
func metricLine(body, prefix string) string {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// httptestServer serves d's handler until the test ends and returns its URL.
func httptestServer(t *testing.T, d *Daemon) string {
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}
