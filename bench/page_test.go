package main

// Benchmark of the inventory pages of the real `cairn daemon` on 10,000
// models (issue 15, acceptance 2: the first index page in ≤ 300 ms). Not
// part of a default `go test` run:
//
//	go test ./bench -run '^$' -bench DaemonPages -benchtime 20x

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDaemonPages measures a GET of the first index page, of a
// filtered search and of a model page, each with its whole body read, from
// a daemon that applied a 10,000-model inventory (a local git work tree:
// seeding a remote with 10,000 files through go-git takes too long). The
// very first index request after the apply is timed and logged. Before
// timing, headless Chromium (when installed) loads the index and a model
// page and their DOM is checked.
func BenchmarkDaemonPages(b *testing.B) {
	d, names := startLocalDaemon(b, 10000)
	get := func(b *testing.B, path string, want string) {
		resp, err := http.Get(d.url + path)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			b.Fatalf("GET %s: %s, no %q in\n%.2000s", path, resp.Status, want, body)
		}
	}
	// The first request right after the targets recorded the apply: the
	// daemon may still be building the pages (it does so once per new
	// state, before any request asks).
	start := time.Now()
	get(b, "/", "Models 1–50 of 10000, page 1 of 200.")
	b.Logf("the first index request after the apply took %v", time.Since(start))
	domCheck(b, d.url, names)

	b.Run("index", func(b *testing.B) {
		for range b.N {
			get(b, "/", "Models 1–50 of 10000, page 1 of 200.")
		}
	})
	b.Run("search", func(b *testing.B) {
		for range b.N {
			get(b, "/?q=model-099&stage=production&state=ok&page=2&per=5", "Models 6–10 of 100 matching (10000 in all), page 2 of 20.")
		}
	})
	b.Run("model", func(b *testing.B) {
		for range b.N {
			get(b, "/models/"+names[5000], `<h1><code>`+names[5000]+`</code>`)
		}
	})
}

// domCheck loads the index and a model page in headless Chromium and
// checks the DOM it built: 50 model rows of 10,000, a link to the next
// page, and the model's card.
func domCheck(b *testing.B, url string, names []string) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		b.Logf("no DOM check: %v", err)
		return
	}
	dump := func(path string) string {
		out, err := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu",
			"--user-data-dir="+b.TempDir(), "--dump-dom", url+path).Output()
		if err != nil {
			b.Fatalf("chromium %s: %v", path, err)
		}
		return string(out)
	}
	index := dump("/")
	if n := strings.Count(index, `<th scope="row"><a href="models/`); n != 50 {
		b.Fatalf("the index DOM has %d model rows, want 50", n)
	}
	for _, want := range []string{"Models 1–50 of 10000, page 1 of 200.", `<a href="?page=2" rel="next">`, `href="models/` + names[49] + `"`} {
		if !strings.Contains(index, want) {
			b.Fatalf("the index DOM has no %q", want)
		}
	}
	model := dump("/models/" + names[5000])
	for _, want := range []string{`<dd id="description">A generated model used to measure Cairn.</dd>`, `<table id="versions">`, `<table id="monitors">`} {
		if !strings.Contains(model, want) {
			b.Fatalf("the model DOM has no %q", want)
		}
	}
}

// startLocalDaemon builds cairn, writes an n-model inventory, commits it
// with the git CLI and starts the daemon on the work tree, waiting for
// its first apply.
func startLocalDaemon(b *testing.B, n int) (*daemonRun, []string) {
	b.Helper()
	tmp, bin, inv, names := buildWithInventory(b, n)
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"},
		{"-c", "user.name=Bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", fmt.Sprintf("%d models", n)}} {
		if out, err := exec.Command("git", append([]string{"-C", inv}, args...)...).CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	addr := freeAddr(b)
	d := &daemonRun{url: "http://" + addr, state: filepath.Join(tmp, "state")}
	d.cmd = exec.Command(bin, "daemon", "--repo", inv, "--state-dir", d.state, "--listen", addr,
		"--interval", "1h", "--drift-interval", "1h", "--log-format", "json")
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
	d.waitApplied(b, "worktree")
	return d, names
}
