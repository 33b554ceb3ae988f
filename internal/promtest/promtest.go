// Package promtest runs a real Prometheus server for tests, over a TSDB
// built from OpenMetrics text with `promtool tsdb create-blocks-from openmetrics`.
//
// It uses the prometheus and promtool binaries on PATH (Debian's `prometheus`
// package); CAIRN_PROMETHEUS and CAIRN_PROMTOOL name other binaries. Tests are
// skipped only when the prometheus binary cannot be found.
package promtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds how long Run waits for /-/ready.
const readyTimeout = 60 * time.Second

// config is the minimal Prometheus configuration: nothing is scraped, the
// server only answers queries over the blocks it was given.
const config = "global:\n  scrape_interval: 1m\n  evaluation_interval: 1m\nscrape_configs: []\n"

// Server is a running Prometheus. URL is its base URL, e.g. http://127.0.0.1:41234.
type Server struct {
	URL string
	// Started is how long the server took from exec to answering /-/ready.
	Started time.Duration

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait returns
	log  string        // path of the server's combined stdout/stderr
}

// Start runs a real prometheus on a free loopback port over a TSDB built from
// openmetrics, waits until it answers /-/ready and returns its base URL. The
// server is stopped at t.Cleanup. See Run.
func Start(t testing.TB, openmetrics string) (url string) {
	t.Helper()
	return Run(t, openmetrics).URL
}

// Run is Start returning the *Server, so that a test can Stop it early. The
// openmetrics text may omit the final "# EOF" line (Run adds it) and may be
// empty for a server without data. Run skips the test if the prometheus
// binary is absent and fails it on any other problem, with the server's log.
func Run(t testing.TB, openmetrics string) *Server {
	t.Helper()
	prometheus := binary("CAIRN_PROMETHEUS", "prometheus")
	if prometheus == "" {
		t.Skip("prometheus binary not found on PATH (install Debian's prometheus package or set CAIRN_PROMETHEUS)")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatalf("promtest: %v", err)
	}
	if strings.TrimSpace(openmetrics) != "" {
		createBlocks(t, dir, data, openmetrics)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatalf("promtest: %v", err)
	}

	// A free port is found by binding :0 and closing it, so another process
	// may take it before prometheus binds; retry on a new port then.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(t, prometheus, dir, cfg, data, attempt)
		if err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break
		}
	}
	t.Fatalf("promtest: %v", lastErr)
	return nil
}

var errExited = errors.New("prometheus exited before it was ready")

func start(t testing.TB, bin, dir, cfg, data string, attempt int) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logPath := filepath.Join(dir, fmt.Sprintf("prometheus-%d.log", attempt))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating log: %w", err)
	}
	defer logFile.Close()

	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+data,
		// Blocks older than the retention are deleted at start-up; tests put
		// their data in the recent past, so any long retention is enough.
		"--storage.tsdb.retention.time=100y",
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	killWithParent(cmd)
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	s := &Server{URL: "http://" + addr, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("%w: %s", errExited, tail(logPath))
		case <-deadline.C:
			s.Stop()
			return nil, fmt.Errorf("prometheus not ready after %s: %s", readyTimeout, tail(logPath))
		case <-tick.C:
		}
		resp, err := client.Get(s.URL + "/-/ready")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			s.Started = time.Since(began)
			t.Logf("promtest: prometheus ready at %s after %s", s.URL, s.Started.Round(time.Millisecond))
			return s, nil
		}
	}
}

// Stop terminates the server (SIGTERM, then SIGKILL after 10s) and waits for
// it to exit. It is safe to call more than once.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// createBlocks writes openmetrics (terminated by "# EOF") to dir and turns it
// into TSDB blocks under data.
func createBlocks(t testing.TB, dir, data, openmetrics string) {
	t.Helper()
	promtool := binary("CAIRN_PROMTOOL", "promtool")
	if promtool == "" {
		t.Fatal("promtest: promtool not found on PATH (it ships with Debian's prometheus package; or set CAIRN_PROMTOOL)")
	}
	text := strings.TrimRight(openmetrics, " \t\r\n")
	if !strings.HasSuffix(text, "# EOF") {
		text += "\n# EOF"
	}
	input := filepath.Join(dir, "input.om")
	if err := os.WriteFile(input, []byte(text+"\n"), 0o644); err != nil {
		t.Fatalf("promtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", input, data).CombinedOutput()
	if err != nil {
		t.Fatalf("promtest: promtool tsdb create-blocks-from openmetrics: %v\n%s", err, out)
	}
}

// Series builds OpenMetrics sample lines for one metric with labels, one
// sample per value at start, start+step, ... (timestamps in seconds, as
// promtool expects). The text has no TYPE line and no "# EOF", so several
// Series can be concatenated and given to Start. NaN and ±Inf are written as
// OpenMetrics spells them.
func Series(metric string, labels map[string]string, start time.Time, step time.Duration, values ...float64) string {
	var b strings.Builder
	ls := formatLabels(labels)
	for i, v := range values {
		ts := start.Add(time.Duration(i) * step)
		b.WriteString(metric)
		b.WriteString(ls)
		b.WriteByte(' ')
		b.WriteString(formatValue(v))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', -1, 64))
		b.WriteByte('\n')
	}
	return b.String()
}

func formatLabels(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(labels[n]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// binary returns the path of a binary named by env or found on PATH, or "".
func binary(env, name string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last lines of the log at path, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	if len(b) == 0 {
		return "(empty log)"
	}
	return string(b)
}
