package inventory

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnops/cairn/internal/invgen"
)

func writeInventory(t testing.TB, dir string, n int) {
	t.Helper()
	if _, err := invgen.Write(dir, n); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLoad measures cold evaluation of a generated inventory. The
// whole-binary comparison with `cue vet` is bench/validate.sh.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{100, 1000} {
		for _, isolated := range []bool{false, true} {
			b.Run(fmt.Sprintf("models=%d/isolated=%v", n, isolated), func(b *testing.B) {
				benchmarkLoad(b, n, isolated)
			})
		}
	}
}

// benchmarkLoad loads n generated models, in worker processes when
// isolated (the CPU time of the workers is not in the profile).
func benchmarkLoad(b *testing.B, n int, isolated bool) {
	{
		{
			dir := b.TempDir()
			writeInventory(b, dir, n)
			src, err := OpenWorktree(dir)
			if err != nil {
				b.Fatal(err)
			}
			opts := Options{}
			if isolated {
				opts.Isolate = testIsolation(b, Budget{Time: time.Minute, Memory: 1 << 30})
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				inv, err := Load(context.Background(), src, opts)
				if err != nil {
					b.Fatal(err)
				}
				if len(inv.Problems) > 0 {
					b.Fatal(inv.Problems[0])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/model")
		}
	}
}

// benchSizes are the inventory sizes of the scaling benchmarks:
// CAIRN_BENCH_SIZES (e.g. "1000,3000,10000,30000"), default 1000,10000.
func benchSizes() []int {
	s := os.Getenv("CAIRN_BENCH_SIZES")
	if s == "" {
		s = "1000,10000"
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// gitCommitAll commits every file of dir with the git command and packs
// the objects, as a clone has them.
func gitCommitAll(b *testing.B, dir string) {
	b.Helper()
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "gc.auto=0", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "inventory"},
		{"gc", "-q"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// BenchmarkReadRevision reads every file Load reads at a revision
// (inventory.cue, the defaults, each model folder and its .cue files),
// without evaluating them, at each of benchSizes; it must grow linearly
// with the inventory.
//
//	CAIRN_BENCH_SIZES=1000,3000,10000,30000 go test ./inventory -run '^$' -bench ReadRevision -benchtime 3x
func BenchmarkReadRevision(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("models=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			writeInventory(b, dir, n)
			gitCommitAll(b, dir)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				src, err := Open(context.Background(), dir, "HEAD")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := fs.ReadFile(src.FS, SettingsFile); err != nil {
					b.Fatal(err)
				}
				entries, err := fs.ReadDir(src.FS, ModelsDir)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := readDefaults(src.FS, entries); err != nil {
					b.Fatal(err)
				}
				// As Load reads them: GOMAXPROCS readers at once.
				next := make(chan fs.DirEntry)
				var files atomic.Int64
				var wg sync.WaitGroup
				for range runtime.GOMAXPROCS(0) {
					wg.Go(func() {
						for e := range next {
							m := &Model{Name: e.Name(), Dir: path.Join(ModelsDir, e.Name())}
							own, probs, err := readModel(src.FS, nil, m)
							if err != nil || len(probs) > 0 {
								b.Error(err, probs)
								return
							}
							files.Add(int64(len(own)))
						}
					})
				}
				for _, e := range entries {
					if e.IsDir() {
						next <- e
					}
				}
				close(next)
				wg.Wait()
				if files.Load() != int64(n) {
					b.Fatalf("read %d model files, want %d", files.Load(), n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/model")
		})
	}
}

// BenchmarkLoadCached loads an inventory whose every result is cached, in
// the work tree and at a revision, at each of benchSizes: the warm path of
// every command.
//
//	CAIRN_BENCH_SIZES=10000 go test ./inventory -run '^$' -bench LoadCached -benchtime 5x
func BenchmarkLoadCached(b *testing.B) {
	// The files were just written: as a user's would be after a while,
	// they count as settled, so that the stat index serves the work tree.
	old := statClock
	statClock = func() time.Time { return time.Now().Add(time.Minute) }
	defer func() { statClock = old }()
	for _, n := range benchSizes() {
		dir := b.TempDir()
		writeInventory(b, dir, n)
		gitCommitAll(b, dir)
		for _, rev := range []string{"", "HEAD"} {
			b.Run(fmt.Sprintf("models=%d/rev=%s", n, rev), func(b *testing.B) {
				cache := &Cache{Dir: b.TempDir()}
				opts := Options{Cache: cache}
				load := func() {
					src, err := Open(context.Background(), dir, rev)
					if err != nil {
						b.Fatal(err)
					}
					inv, err := Load(context.Background(), src, opts)
					if err != nil {
						b.Fatal(err)
					}
					if len(inv.Problems) > 0 {
						b.Fatal(inv.Problems[0])
					}
				}
				load() // fills the cache
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					load()
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/model")
			})
		}
	}
}
