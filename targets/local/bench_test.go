package local_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/targets"
	"github.com/cairnops/cairn/targets/local"
)

// BenchmarkApply measures a first apply of N small models into an empty
// target, and the no-op re-apply of the same state.
func BenchmarkApply(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10, 100} {
		src := newSource(b)
		desired := make([]targets.Model, n)
		for i := range desired {
			desired[i] = src.add(b, fmt.Sprintf("model-%03d", i), "1.0.0", "model.bin", []byte(fmt.Sprintf("weights of model %d", i)))
		}
		b.Run(fmt.Sprintf("fresh/models=%d", n), func(b *testing.B) {
			base := b.TempDir()
			i := 0
			for b.Loop() {
				tg, err := local.New(filepath.Join(base, fmt.Sprint(i)))
				require.NoError(b, err)
				i++
				_, err = tg.Apply(ctx, "rev1", desired, targets.OpenFunc(src.open))
				require.NoError(b, err)
			}
		})
		b.Run(fmt.Sprintf("noop/models=%d", n), func(b *testing.B) {
			tg, err := local.New(filepath.Join(b.TempDir(), "models"))
			require.NoError(b, err)
			_, err = tg.Apply(ctx, "rev1", desired, targets.OpenFunc(src.open))
			require.NoError(b, err)
			for b.Loop() {
				changes, err := tg.Apply(ctx, "rev1", desired, targets.OpenFunc(src.open))
				require.NoError(b, err)
				require.Equal(b, targets.Unchanged, changes[0].Action)
			}
		})
	}
}
