package main

// The soak of the real `cairn daemon` (issue 18, acceptance 6): thousands of
// commits through signed webhooks, in bursts, with bad revisions mixed in.
// Not part of a default `go test` run:
//
//	go test ./bench -run '^$' -bench DaemonSoak -benchtime 1x -timeout 2h
//
// CAIRN_SOAK_COMMITS (default 5000) and CAIRN_SOAK_MODELS (default 100)
// size it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cairnops/cairn/internal/invgen"
	"github.com/cairnops/cairn/reconciler"
)

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// BenchmarkDaemonSoak pushes CAIRN_SOAK_COMMITS one-model commits to the
// remote in bursts of 1 to 10, each burst followed by one signed push
// webhook, and waits until the daemon has handled the burst's tip before
// the next; one burst in ten ends with a bad revision (a pin of a version
// the model does not declare), which the next burst repairs. It samples the
// daemon's RSS every second and reports the growth after the first minute,
// the packfiles of the clone, and how every revision ended: applied,
// refused, or superseded by a later one of its burst. It fails when a bad
// revision was applied, a good one refused, or the target does not serve
// the last good revision at the end.
func BenchmarkDaemonSoak(b *testing.B) {
	commits := envInt(b, "CAIRN_SOAK_COMMITS", 5000)
	models := envInt(b, "CAIRN_SOAK_MODELS", 100)
	d, remote, names := startDaemon(b, models, "1h")
	pid := d.cmd.Process.Pid
	d0, d1 := digestOf("synthetic model weights 0\n"), digestOf("synthetic model weights 1\n")
	pins := []string{`stages: {staging: "1.0.0", production: "1.0.0"}`, `stages: {staging: "1.1.0", production: "1.1.0"}`}
	bad := `stages: {staging: "9.9.9", production: "9.9.9"}`
	serves := map[string]string{} // what the branch tip pins, by model
	for _, n := range names {
		serves[n] = "1.1.0"
	}
	// What the last good tip pins: the changes of a burst that ends in a
	// bad revision wait for the next good tip.
	served := maps.Clone(serves)
	rng := rand.New(rand.NewPCG(18, 5000))

	type sample struct {
		At  time.Duration `json:"atNs"`
		RSS int64         `json:"rssKiB"`
		// The anonymous and file-backed parts of RSS.
		Anon int64 `json:"rssAnonKiB"`
		File int64 `json:"rssFileKiB"`
		goMemory
	}
	var samples []sample
	start := time.Now()
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if rss, anon, file, err := rssKiB(pid); err == nil {
					samples = append(samples, sample{At: time.Since(start), RSS: rss, Anon: anon, File: file, goMemory: d.goMemory()})
				}
			}
		}
	}()

	good, badRevs := map[string]bool{}, map[string]bool{}
	var tips []string
	outcome := map[string]string{} // what became of each burst's tip
	var lags []time.Duration
	lastBad := ""
	b.ResetTimer()
	for n := 0; n < commits; {
		burst := min(1+rng.IntN(10), commits-n)
		var tip string
		for i := range burst {
			model := names[rng.IntN(len(names))]
			card := invgen.Model(model, d0, d1)
			msg := "pin " + model
			switch {
			case lastBad != "":
				// Repair the bad model first.
				model, msg = lastBad, "repair "+lastBad
				card = strings.Replace(invgen.Model(model, d0, d1), pins[1], pins[0], 1)
				serves[model] = "1.0.0"
				lastBad = ""
			case i == burst-1 && rng.IntN(10) == 0:
				card = strings.Replace(card, pins[1], bad, 1)
				msg, lastBad = "a bad pin of "+model, model
			default:
				v := []string{"1.0.0", "1.1.0"}[rng.IntN(2)]
				if v == "1.0.0" {
					card = strings.Replace(card, pins[1], pins[0], 1)
				}
				serves[model] = v
			}
			tip = remote.Seed(b, "main", map[string]string{"models/" + model + "/model.cue": card}, msg)
			if lastBad == model && strings.HasPrefix(msg, "a bad pin") {
				badRevs[tip] = true
			} else {
				good[tip] = true
			}
			n++
		}
		tips = append(tips, tip)
		if good[tip] {
			served = maps.Clone(serves)
		}
		pushed := time.Now()
		d.push(b, tip)
		outcome[tip] = d.waitHandled(b, tip)
		lags = append(lags, time.Since(pushed))
	}
	b.StopTimer()
	close(stop)
	<-sampled

	// How every revision ended, from the audit.
	audit, err := reconciler.Audit(d.state)
	if err != nil {
		b.Fatal(err)
	}
	applied, refused := map[string]bool{}, map[string]bool{}
	for _, e := range audit {
		if e.Action == "refused" {
			refused[e.Revision] = true
		} else {
			applied[e.Revision] = true
		}
	}
	for rev := range applied {
		if badRevs[rev] {
			b.Errorf("bad revision %s was applied", rev)
		}
	}
	for rev := range refused {
		if good[rev] {
			b.Errorf("good revision %s was refused", rev)
		}
	}
	nApplied, nRefused := 0, 0
	for _, tip := range tips {
		switch o := outcome[tip]; {
		case o == "applied" && badRevs[tip], o == "refused" && good[tip]:
			b.Errorf("revision %s was %s", tip, o)
		case o == "applied":
			nApplied++
		default:
			nRefused++
		}
	}
	// Every other commit was superseded by its burst's tip.
	nSuperseded := commits - len(tips)
	for _, m := range names {
		link, err := os.Readlink(filepath.Join(d.state, "targets", "prod", m, "current"))
		if err != nil {
			b.Fatal(err)
		}
		if link != served[m] {
			b.Errorf("%s serves %s, want %s", m, link, served[m])
		}
	}
	packs, _ := filepath.Glob(filepath.Join(d.state, "repo", "objects", "pack", "*.pack"))

	var base, peak, last int64
	var first, atMinute, final goMemory
	for i, s := range samples {
		if base == 0 && s.At >= time.Minute {
			base, atMinute = s.RSS, s.goMemory
		}
		if i == 0 {
			first = s.goMemory
		}
		peak = max(peak, s.RSS)
		last, final = s.RSS, s.goMemory
	}
	slices.Sort(lags)
	p95 := lags[len(lags)*95/100]
	elapsed := time.Since(start)
	b.ReportMetric(float64(commits), "commits")
	b.ReportMetric(float64(len(tips)), "webhooks")
	b.ReportMetric(float64(nApplied), "applied")
	b.ReportMetric(float64(nRefused), "refused")
	b.ReportMetric(float64(nSuperseded), "superseded")
	b.ReportMetric(float64(len(packs)), "packs")
	b.ReportMetric(p95.Seconds(), "lag-p95-s")
	if base > 0 {
		b.ReportMetric(float64(last-base)*100/float64(base), "rss-growth-%")
	}
	b.Logf("%d commits in %d bursts over %s, %d models: %d applied, %d refused, %d superseded; %d packfiles; lag p95 %s; RSS first %d KiB, at 1 min %d KiB, peak %d KiB, last %d KiB",
		commits, len(tips), elapsed.Round(time.Second), models, nApplied, nRefused, nSuperseded, len(packs), p95.Round(time.Millisecond),
		samples[0].RSS, base, peak, last)
	// One sample may fall on a moment's peak (a repack): the medians of
	// the second minute and of the last one say the same with less noise.
	median := func(from, to time.Duration) int64 {
		var rss []int64
		for _, s := range samples {
			if s.At >= from && s.At < to {
				rss = append(rss, s.RSS)
			}
		}
		if len(rss) == 0 {
			return 0
		}
		slices.Sort(rss)
		return rss[len(rss)/2]
	}
	if m1, mEnd := median(time.Minute, 2*time.Minute), median(elapsed-time.Minute, elapsed); m1 > 0 && mEnd > 0 {
		b.Logf("RSS median of minute 2 %d KiB, of the last minute %d KiB: %+.1f%%", m1, mEnd, float64(mEnd-m1)*100/float64(m1))
	}
	for _, m := range []struct {
		at string
		goMemory
	}{{"first", first}, {"at 1 min", atMinute}, {"last", final}} {
		b.Logf("Go memory %s: heap in use %d KiB, %d heap objects, stacks %d KiB, from the OS %d KiB, %d goroutines",
			m.at, m.HeapInuse>>10, m.HeapObjects, m.StackInuse>>10, m.Sys>>10, m.Goroutines)
	}
	if atMinute.HeapInuse > 0 {
		b.ReportMetric(float64(final.HeapInuse-atMinute.HeapInuse)*100/float64(atMinute.HeapInuse), "heap-growth-%")
	}
	if out, err := json.Marshal(samples); err == nil && os.Getenv("CAIRN_SOAK_SAMPLES") != "" {
		_ = os.WriteFile(os.Getenv("CAIRN_SOAK_SAMPLES"), out, 0o644)
	}
}

// waitHandled waits until the daemon's status names rev as the last
// revision it loaded, applied or refused with its findings, and says which.
func (d *daemonRun) waitHandled(b *testing.B, rev string) string {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		resp, err := http.Get(d.url + "/api/v1/status")
		if err == nil {
			var s struct {
				Revision, AppliedRevision string
				Findings                  []struct{ Kind string }
			}
			err = json.NewDecoder(resp.Body).Decode(&s)
			resp.Body.Close()
			// Refused: the status shows the findings of the revision loaded.
			refused := slices.ContainsFunc(s.Findings, func(f struct{ Kind string }) bool { return f.Kind == "validation" })
			switch {
			case err != nil || s.Revision != rev:
			case s.AppliedRevision == rev:
				return "applied"
			case refused:
				return "refused"
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("revision %s not handled", rev)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// goMemory is what the daemon's /metrics say of its Go runtime's memory.
type goMemory struct {
	HeapInuse   int64 `json:"heapInuseBytes"`
	HeapObjects int64 `json:"heapObjects"`
	StackInuse  int64 `json:"stackInuseBytes"`
	Sys         int64 `json:"sysBytes"`
	Goroutines  int64 `json:"goroutines"`
}

// goMemory reads the Go collector's gauges from the daemon's /metrics;
// zero when they cannot be read.
func (d *daemonRun) goMemory() goMemory {
	var m goMemory
	resp, err := http.Get(d.url + "/metrics")
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return m
	}
	gauge := func(name string) int64 {
		if f := fams[name]; f != nil && len(f.GetMetric()) == 1 {
			return int64(f.GetMetric()[0].GetGauge().GetValue())
		}
		return 0
	}
	m.HeapInuse, m.HeapObjects = gauge("go_memstats_heap_inuse_bytes"), gauge("go_memstats_heap_objects")
	m.StackInuse, m.Sys = gauge("go_memstats_stack_inuse_bytes"), gauge("go_memstats_sys_bytes")
	m.Goroutines = gauge("go_goroutines")
	return m
}

// rssKiB returns the resident set size of pid in KiB, with its anonymous
// part (the heap, stacks) and its file part (the binary's pages), from
// /proc/<pid>/status.
func rssKiB(pid int) (rss, anon, file int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	fields := map[string]*int64{"VmRSS:": &rss, "RssAnon:": &anon, "RssFile:": &file}
	for _, l := range bytes.Split(data, []byte("\n")) {
		name, v, ok := bytes.Cut(l, []byte(":"))
		if p := fields[string(name)+":"]; ok && p != nil {
			if *p, err = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(v)), " kB"), 10, 64); err != nil {
				return 0, 0, 0, err
			}
		}
	}
	if rss == 0 {
		return 0, 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, anon, file, nil
}
