package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cairnops/cairn/internal/promtest"
)

// cmdPrometheusStart is the script command
//
//	prometheus-start FILE
//
// It starts a real Prometheus (internal/promtest) over the OpenMetrics text
// of FILE and sets PROMETHEUS_URL to its base URL; the server stops when the
// script ends. $VARS in FILE are expanded first. A sample's timestamp may be
// relative to CAIRN_NOW, so that scripts stay in step with the fixed clock
// and inside the server's retention:
//
//	metric{l="v"} 0.8 now-5m              one sample at CAIRN_NOW-5m
//	metric{l="v"} 0.8 now-60m..now/1m     one sample a minute from CAIRN_NOW-60m to CAIRN_NOW, both included
//
// Absolute timestamps (Unix seconds) pass through. The script is skipped
// when the prometheus binary is not installed.
func cmdPrometheusStart(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "prometheus-start")
	if len(args) != 1 {
		ts.Fatalf("usage: prometheus-start FILE")
	}
	tb := scriptTB(ts)
	if !havePrometheus() {
		tb.Skipf("prometheus-start: no prometheus binary on PATH: install Debian's prometheus package (it brings promtool too) or set CAIRN_PROMETHEUS and CAIRN_PROMTOOL")
	}
	now, err := time.Parse(time.RFC3339, ts.Getenv("CAIRN_NOW"))
	if err != nil {
		ts.Fatalf("prometheus-start: CAIRN_NOW: %v", err)
	}
	text, err := relativeOpenMetrics(os.Expand(ts.ReadFile(args[0]), ts.Getenv), now)
	if err != nil {
		ts.Fatalf("prometheus-start: %s: %v", args[0], err)
	}
	s := promtest.Run(tb, text)
	ts.Defer(s.Stop)
	ts.Setenv("PROMETHEUS_URL", s.URL)
}

// havePrometheus reports whether promtest will find a prometheus binary.
func havePrometheus() bool {
	if os.Getenv("CAIRN_PROMETHEUS") != "" {
		return true
	}
	_, err := exec.LookPath("prometheus")
	return err == nil
}

// relativeOpenMetrics rewrites the sample lines of text whose timestamp is
// "now", "now±D" or "now±D..now±D/STEP" into samples with absolute
// timestamps (Unix seconds) relative to now.
func relativeOpenMetrics(text string, now time.Time) (string, error) {
	var b strings.Builder
	for i, line := range strings.Split(text, "\n") {
		sp := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || sp < 0 || !strings.HasPrefix(line[sp+1:], "now") {
			b.WriteString(line)
			b.WriteByte('\n')
			continue
		}
		times, err := sampleTimes(line[sp+1:], now)
		if err != nil {
			return "", fmt.Errorf("line %d: %w", i+1, err)
		}
		for _, t := range times {
			fmt.Fprintf(&b, "%s %s\n", line[:sp], strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64))
		}
	}
	return b.String(), nil
}

// sampleTimes parses "now±D" or "now±D..now±D/STEP".
func sampleTimes(spec string, now time.Time) ([]time.Time, error) {
	from, rest, isRange := strings.Cut(spec, "..")
	start, err := relativeTime(from, now)
	if err != nil {
		return nil, err
	}
	if !isRange {
		return []time.Time{start}, nil
	}
	to, stepStr, ok := strings.Cut(rest, "/")
	if !ok {
		return nil, fmt.Errorf("range %q: missing /STEP", spec)
	}
	end, err := relativeTime(to, now)
	if err != nil {
		return nil, err
	}
	step, err := time.ParseDuration(stepStr)
	if err != nil || step <= 0 {
		return nil, fmt.Errorf("range %q: step must be a positive duration", spec)
	}
	var out []time.Time
	for t := start; !t.After(end); t = t.Add(step) {
		out = append(out, t)
	}
	return out, nil
}

// relativeTime parses "now", "now-D" or "now+D".
func relativeTime(s string, now time.Time) (time.Time, error) {
	rest, ok := strings.CutPrefix(s, "now")
	if !ok {
		return time.Time{}, fmt.Errorf("timestamp %q: want now, now-D or now+D", s)
	}
	if rest == "" {
		return now, nil
	}
	d, err := time.ParseDuration(rest)
	if err != nil || (rest[0] != '-' && rest[0] != '+') {
		return time.Time{}, fmt.Errorf("timestamp %q: want now, now-D or now+D", s)
	}
	return now.Add(d), nil
}
