package inventory

import (
	"context"
	"fmt"
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
