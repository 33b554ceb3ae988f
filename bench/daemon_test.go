package main

// Benchmarks of the real `cairn daemon` (issue 8, acceptance 5). They build
// the binary, run it against a git http-backend remote and are not part of a
// default `go test` run:
//
//	go test ./bench -run '^$' -bench Daemon -benchtime 10x

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairnops/cairn/internal/gittest"
	"github.com/cairnops/cairn/internal/invgen"
	"github.com/cairnops/cairn/reconciler"
)

// daemonRun is a `cairn daemon` process of a benchmark.
type daemonRun struct {
	cmd   *exec.Cmd
	url   string
	state string
}

// startDaemon builds cairn, seeds a remote with an n-model inventory and
// starts the daemon on it with interval, waiting for its first apply.
func startDaemon(b *testing.B, n int, interval string) (*daemonRun, *gittest.Remote, []string) {
	b.Helper()
	tmp, bin, inv, names := buildWithInventory(b, n)
	files := map[string]string{}
	err := filepath.WalkDir(inv, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(inv, p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	remote := gittest.NewRemote(b)
	rev := remote.Seed(b, "main", files, fmt.Sprintf("%d models", n))
	secretFile := filepath.Join(tmp, "secret")
	if err := os.WriteFile(secretFile, benchSecret, 0o600); err != nil {
		b.Fatal(err)
	}
	addr := freeAddr(b)
	d := &daemonRun{url: "http://" + addr, state: filepath.Join(tmp, "state")}
	d.cmd = exec.Command(bin, "daemon", "--repo", remote.URL, "--state-dir", d.state, "--listen", addr,
		"--interval", interval, "--drift-interval", "1h", "--webhook-secret-file", secretFile, "--log-format", "json")
	var logs bytes.Buffer
	d.cmd.Stderr = &logs
	if err := d.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		if err := d.cmd.Wait(); err != nil {
			b.Errorf("daemon exit: %v\n%s", err, logs.String())
		}
	})
	d.waitApplied(b, rev)
	return d, remote, names
}

var benchSecret = []byte("bench secret")

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitApplied waits until the prod target recorded rev as applied.
func (d *daemonRun) waitApplied(b *testing.B, rev string) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		st, err := reconciler.States(d.state)
		if err != nil {
			b.Fatal(err)
		}
		if st["prod"].LastAppliedRevision == rev {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("revision %s not applied: %+v", rev, st)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// push posts a signed push webhook for rev.
func (d *daemonRun) push(b *testing.B, rev string) {
	body := []byte(`{"ref":"refs/heads/main","after":"` + rev + `"}`)
	mac := hmac.New(sha256.New, benchSecret)
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, d.url+"/hooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.Fatalf("webhook: %s", resp.Status)
	}
}

// BenchmarkDaemonWebhook measures, per operation, a signed push webhook to
// the moment the local target serves a one-model change of a 1,000-model
// inventory (fetch, load, validate, apply). The push to the remote is not timed.
func BenchmarkDaemonWebhook(b *testing.B) {
	d, remote, names := startDaemon(b, 1000, "1h")
	model := names[len(names)/2]
	pins := []string{`stages: {staging: "1.0.0", production: "1.0.0"}`, `stages: {staging: "1.1.0", production: "1.1.0"}`}
	card := invgen.Model(model, digestOf("synthetic model weights 0\n"), digestOf("synthetic model weights 1\n"))
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		src := strings.Replace(card, pins[1], pins[i%2], 1)
		rev := remote.Seed(b, "main", map[string]string{"models/" + model + "/model.cue": src}, "pin "+model)
		b.StartTimer()
		d.push(b, rev)
		d.waitApplied(b, rev)
	}
	b.StopTimer()
	link, err := os.Readlink(filepath.Join(d.state, "targets", "prod", model, "current"))
	if err != nil {
		b.Fatal(err)
	}
	want := []string{"1.0.0", "1.1.0"}[(b.N-1)%2]
	if link != want {
		b.Fatalf("%s serves %s, want %s", model, link, want)
	}
}

// digestOf returns the "sha256:<hex>" digest of s.
func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// BenchmarkDaemonIdleCPU measures the CPU time the daemon spends over 60 s
// of idling on a 1,000-model inventory with --interval 10s (six fetches
// that find nothing new), from /proc/<pid>/stat.
func BenchmarkDaemonIdleCPU(b *testing.B) {
	d, _, _ := startDaemon(b, 1000, "10s")
	pid := d.cmd.Process.Pid
	const window = 60 * time.Second
	b.ResetTimer()
	for range b.N {
		before := cpuTicks(b, pid)
		time.Sleep(window)
		after := cpuTicks(b, pid)
		ms := float64(after-before) * 1000 / clockTicks
		b.ReportMetric(ms, "cpu-ms/60s")
		b.ReportMetric(ms/float64(window.Milliseconds())*100, "%cpu")
	}
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clockTicks = 100

// cpuTicks returns utime+stime of pid from /proc/<pid>/stat.
func cpuTicks(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	rest := string(data[bytes.LastIndexByte(data, ')')+2:])
	f := strings.Fields(rest)
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parsing /proc/%d/stat: %s", pid, data)
	}
	return utime + stime
}

// buildWithInventory builds cairn into a temporary folder and writes an
// n-model inventory into its inv subfolder; it returns the folder, the
// binary, the inventory and the model names.
func buildWithInventory(b *testing.B, n int) (tmp, bin, inv string, names []string) {
	b.Helper()
	tmp = b.TempDir()
	bin = filepath.Join(tmp, "cairn")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/cairnops/cairn/cmd/cairn").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	inv = filepath.Join(tmp, "inv")
	if err := os.MkdirAll(inv, 0o755); err != nil {
		b.Fatal(err)
	}
	names, err := invgen.Write(inv, n)
	if err != nil {
		b.Fatal(err)
	}
	return tmp, bin, inv, names
}
