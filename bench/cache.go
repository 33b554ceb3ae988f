package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cairnops/cairn/internal/invgen"
)

// benchPolicy is the organisation rule of the cache benchmark's inventory:
// every model runs it, so that a change to it re-evaluates everything.
const benchPolicy = `package policy

import "strings"

rules: "owners-are-teams": {
	description: "owners must be GitHub teams or mail addresses (%d)"
	model:       _
	deny: [for o in model.card.owners if !strings.HasPrefix(o, "@") && !strings.Contains(o, "@") {"card.owners: \(o) is not a team"}]
}
`

// benchCache measures `cairn validate` with the evaluation cache against
// cold runs, in one run: bench cache -cairn ./cairn [-baseline ./cairn-main].
func benchCache(args []string) error {
	fs := flag.NewFlagSet("cache", flag.ExitOnError)
	cairn := fs.String("cairn", "./cairn", "cairn binary")
	baseline := fs.String("baseline", "", "cairn binary of the baseline (main), for the cold comparison")
	sizes := fs.String("n", "10000", "inventory sizes")
	runs := fs.Int("runs", 3, "runs per measurement (median wall time)")
	revOnly := fs.Bool("rev-only", false, "measure only cold --rev HEAD against the work tree (the scaling table)")
	fs.Parse(args)
	bin, err := filepath.Abs(*cairn)
	if err != nil {
		return err
	}
	base := ""
	if *baseline != "" {
		if base, err = filepath.Abs(*baseline); err != nil {
			return err
		}
	}
	fmt.Printf("%-7s %-40s %9s %9s %9s %9s\n", "models", "run", "wall", "cpu", "peak RSS", "vs cold")
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		if err := benchCacheSize(bin, base, n, *runs, *revOnly); err != nil {
			return err
		}
	}
	return nil
}

func benchCacheSize(bin, base string, n, runs int, revOnly bool) error {
	tmp, err := os.MkdirTemp("", "cairn-bench-cache-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "inv")
	cache := filepath.Join(tmp, "cache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	names, err := invgen.Write(dir, n)
	if err != nil {
		return err
	}
	policy := filepath.Join(dir, "policies", "owners.cue")
	if err := os.MkdirAll(filepath.Dir(policy), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(policy, []byte(fmt.Sprintf(benchPolicy, 0)), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"}, {"add", "-A"},
		{"-c", "gc.auto=0", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "inventory"},
		{"gc", "-q"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	clear := func(int) error { return os.RemoveAll(cache) }
	none := func(int) error { return nil }
	row := func(label string, m measurement, cold time.Duration) {
		vs := ""
		if cold > 0 {
			vs = fmt.Sprintf("%.2fx", float64(m.wall)/float64(cold))
		}
		fmt.Printf("%-7d %-40s %9s %9s %7.1fMB %9s\n", n, label, m.wall.Round(time.Millisecond), m.cpu.Round(time.Millisecond), float64(m.maxRSS)/1e6, vs)
	}
	withCache := []string{"validate", "--cache-dir", cache}

	if revOnly {
		wt, err := measureWith(dir, runs, none, bin, "validate", "--no-cache")
		if err != nil {
			return err
		}
		row("cold validate (work tree)", wt, 0)
		rev, err := measureWith(dir, runs, none, bin, "validate", "--no-cache", "--rev", "HEAD")
		if err != nil {
			return err
		}
		row("cold validate --rev HEAD", rev, wt.wall)
		return nil
	}

	if base != "" {
		m, err := measureWith(dir, runs, none, base, "validate")
		if err != nil {
			return err
		}
		row("baseline: cold validate (main)", m, 0)
	}
	cold, err := measureWith(dir, runs, clear, bin, withCache...)
	if err != nil {
		return err
	}
	row("cold validate, empty cache", cold, 0)
	noCache, err := measureWith(dir, runs, none, bin, "validate", "--no-cache")
	if err != nil {
		return err
	}
	row("validate --no-cache", noCache, cold.wall)
	// Fill the cache, then measure the warm runs.
	if _, err := measureWith(dir, 1, clear, bin, withCache...); err != nil {
		return err
	}
	size, files, err := dirSize(cache)
	if err != nil {
		return err
	}
	fmt.Printf("%-7d %-40s %9s %9s %7.1fMB %9s\n", n, fmt.Sprintf("cache size (%d files)", files), "", "", float64(size)/1e6, "")
	warm, err := measureWith(dir, runs, none, bin, withCache...)
	if err != nil {
		return err
	}
	row("nothing changed", warm, cold.wall)
	model := filepath.Join(dir, "models", names[n/2], "model.cue")
	orig, err := os.ReadFile(model)
	if err != nil {
		return err
	}
	one, err := measureWith(dir, runs, func(i int) error {
		changed := strings.Replace(string(orig), "A generated model used to measure Cairn.", fmt.Sprintf("Changed %d times.", i+1), 1)
		return os.WriteFile(model, []byte(changed), 0o644)
	}, bin, withCache...)
	if err != nil {
		return err
	}
	row("one model changed", one, cold.wall)
	if err := os.WriteFile(model, orig, 0o644); err != nil {
		return err
	}
	defaults := filepath.Join(dir, "models", "defaults.cue")
	defs, err := measureWith(dir, runs, func(i int) error {
		return os.WriteFile(defaults, []byte(fmt.Sprintf("package model\n\ncard: license: *\"proprietary-%d\" | string\n", i)), 0o644)
	}, bin, withCache...)
	if err != nil {
		return err
	}
	row("models/defaults.cue changed", defs, cold.wall)
	pol, err := measureWith(dir, runs, func(i int) error {
		return os.WriteFile(policy, []byte(fmt.Sprintf(benchPolicy, i+1)), 0o644)
	}, bin, withCache...)
	if err != nil {
		return err
	}
	row("policy changed", pol, cold.wall)

	// At a revision: the committed inventory, read from git's objects.
	revCold, err := measureWith(dir, runs, none, bin, "validate", "--no-cache", "--rev", "HEAD")
	if err != nil {
		return err
	}
	row("cold validate --rev HEAD (vs --no-cache)", revCold, noCache.wall)
	if _, err := measureWith(dir, 1, clear, bin, "validate", "--cache-dir", cache, "--rev", "HEAD"); err != nil {
		return err
	}
	revWarm, err := measureWith(dir, runs, none, bin, "validate", "--cache-dir", cache, "--rev", "HEAD")
	if err != nil {
		return err
	}
	row("--rev HEAD, nothing changed", revWarm, cold.wall)
	// The base is loaded without the organisation rules' visitor, so its
	// results have keys of their own: one run stores them.
	if _, err := measureWith(dir, 1, none, bin, "validate", "--cache-dir", cache, "--rev", "HEAD", "--base", "HEAD"); err != nil {
		return err
	}
	baseWarm, err := measureWith(dir, runs, none, bin, "validate", "--cache-dir", cache, "--rev", "HEAD", "--base", "HEAD")
	if err != nil {
		return err
	}
	row("--rev HEAD --base HEAD, nothing changed", baseWarm, cold.wall)
	return nil
}

// measureWith is measure with setup(i) run before the i-th run.
func measureWith(dir string, runs int, setup func(int) error, name string, args ...string) (measurement, error) {
	type run struct{ wall, cpu time.Duration }
	var all []run
	var rss int64
	for i := 0; i < runs; i++ {
		if err := setup(i); err != nil {
			return measurement{}, err
		}
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = nil, os.Stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return measurement{}, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
		}
		all = append(all, run{time.Since(start), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()})
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss*1024 > rss {
			rss = ru.Maxrss * 1024
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].wall < all[j].wall })
	m := all[len(all)/2]
	return measurement{wall: m.wall, cpu: m.cpu, maxRSS: rss}, nil
}

// dirSize is the size of the files in dir and their count.
func dirSize(dir string) (int64, int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, err
	}
	var size int64
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			return 0, 0, err
		}
		size += fi.Size()
	}
	return size, len(entries), nil
}
