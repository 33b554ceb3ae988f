package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/invgen"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
)

// benchModels is the size of the benchmark inventory; CAIRN_BENCH_MODELS
// overrides it for quick runs.
var benchModels = func() int {
	if n, err := strconv.Atoi(os.Getenv("CAIRN_BENCH_MODELS")); err == nil && n > 0 {
		return n
	}
	return 10000
}()

// benchPolicy is an organisation rule every model is run through.
const benchPolicy = `package policy

import "strings"

rules: "owners-are-teams": {
	severity:    "error"
	description: "every model has at least one GitHub team among its owners"
	model:       _
	deny: [if len([for o in model.card.owners if strings.HasPrefix(o, "@") && strings.Contains(o, "/") {o}]) == 0 {
		"card.owners: name at least one team (@org/team) among the owners"
	}]
}
`

// benchInventory writes a 10k-model inventory with one organisation rule.
func benchInventory(b *testing.B) *inventory.Source {
	b.Helper()
	dir := b.TempDir()
	_, err := invgen.Write(dir, benchModels)
	require.NoError(b, err)
	require.NoError(b, os.MkdirAll(filepath.Join(dir, policy.PoliciesDir), 0o755))
	require.NoError(b, os.WriteFile(filepath.Join(dir, policy.PoliciesDir, "owners.cue"), []byte(benchPolicy), 0o644))
	src, err := inventory.OpenWorktree(dir)
	require.NoError(b, err)
	return src
}

func loadOnly(b *testing.B, ctx context.Context, src *inventory.Source) {
	inv, err := inventory.Load(ctx, src, inventory.Options{})
	require.NoError(b, err)
	require.Len(b, inv.Models, benchModels)
}

func loadAndEvaluate(b *testing.B, ctx context.Context, src *inventory.Source, now time.Time) {
	loadAndEvaluateIsolated(b, ctx, src, now, nil)
}

// loadAndEvaluateIsolated is loadAndEvaluate in worker processes of iso,
// or in-process with the Visitor when iso is nil.
func loadAndEvaluateIsolated(b *testing.B, ctx context.Context, src *inventory.Source, now time.Time, iso *inventory.Isolation) {
	pols, err := policy.LoadIsolated(ctx, src, iso)
	require.NoError(b, err)
	opts := inventory.Options{Visit: pols.Visit}
	if iso != nil {
		opts = inventory.Options{Visitor: pols.Visitor(), Isolate: iso}
	}
	inv, err := inventory.Load(ctx, src, opts)
	require.NoError(b, err)
	rep, err := policy.Evaluate(ctx, inv, policy.Options{Now: now, Policies: pols})
	require.NoError(b, err)
	require.Zero(b, rep.Summary.Errors, "the synthetic inventory is clean")
}

// BenchmarkValidate measures cold validation of a 10k-model inventory:
// inventory.Load alone, and Load with the organisation rule run in Visit
// plus every built-in rule.
func BenchmarkValidate(b *testing.B) {
	ctx := context.Background()
	src := benchInventory(b)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			loadOnly(b, ctx, src)
		}
	})
	b.Run("load+policy", func(b *testing.B) {
		for b.Loop() {
			loadAndEvaluate(b, ctx, src, now)
		}
	})
	// Isolated, the workers' CPU time is not in the process's profile.
	iso := testIsolation(b, inventory.Budget{Time: time.Minute, Memory: 1 << 30})
	b.Run("load+policy/isolated", func(b *testing.B) {
		for b.Loop() {
			loadAndEvaluateIsolated(b, ctx, src, now, iso)
		}
	})
}

// cpuTime is the CPU time (user + system) the process has used so far. The
// overhead is reported in CPU time too, since wall time on a shared machine
// mostly measures the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPolicyOverhead alternates both runs (use an even -benchtime Nx) and reports how much policy
// evaluation adds to loading, in percent of wall and of CPU time (target: at
// most 25).
func BenchmarkPolicyOverhead(b *testing.B) {
	ctx := context.Background()
	src := benchInventory(b)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var plain, withPolicy, plainCPU, withPolicyCPU time.Duration
	measure := func(wall, cpu *time.Duration, f func()) {
		runtime.GC() // Start each run without the previous run's garbage.
		t, c := time.Now(), cpuTime()
		f()
		*wall += time.Since(t)
		*cpu += cpuTime() - c
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate the order so that warm-up favours neither.
		runs := []func(){
			func() { measure(&plain, &plainCPU, func() { loadOnly(b, ctx, src) }) },
			func() { measure(&withPolicy, &withPolicyCPU, func() { loadAndEvaluate(b, ctx, src, now) }) },
		}
		if i%2 == 1 {
			runs[0], runs[1] = runs[1], runs[0]
		}
		for _, r := range runs {
			r()
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(plain.Milliseconds())/n, "load-ms/op")
	b.ReportMetric(float64(withPolicy.Milliseconds())/n, "load+policy-ms/op")
	b.ReportMetric(float64(plainCPU.Milliseconds())/n, "load-cpu-ms/op")
	b.ReportMetric(float64(withPolicyCPU.Milliseconds())/n, "load+policy-cpu-ms/op")
	b.ReportMetric(100*(float64(withPolicy)-float64(plain))/float64(plain), "%overhead-wall")
	b.ReportMetric(100*(float64(withPolicyCPU)-float64(plainCPU))/float64(plainCPU), "%overhead-cpu")
}
