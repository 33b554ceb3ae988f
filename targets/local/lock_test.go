//go:build unix

package local_test

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/treetest"
	"github.com/cairnops/cairn/targets"
)

// TestApplyWaitsForAnotherProcess holds the target's lock as another
// process would (flock on the directory, through a separate open file) and
// checks that Apply waits for it: with a deadline it gives up and leaves the
// target as it was; once the lock is released it applies.
func TestApplyWaitsForAnotherProcess(t *testing.T) {
	src := newSource(t)
	tg, dir := newTarget(t)
	v1 := []targets.Model{src.add(t, "fraud-detector", "1.0.0", "model.onnx", []byte("v1"))}
	_, err := tg.Apply(context.Background(), "rev1", v1, targets.OpenFunc(src.open))
	require.NoError(t, err)
	before := treetest.Hash(t, dir)

	f, err := os.Open(dir)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))

	v2 := []targets.Model{src.add(t, "fraud-detector", "2.0.0", "model.onnx", []byte("v2"))}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = tg.Apply(ctx, "rev2", v2, targets.OpenFunc(src.open))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "waiting for another apply")
	assert.Equal(t, before, treetest.Hash(t, dir), "nothing changed while locked")

	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_UN))
	changes, err := tg.Apply(context.Background(), "rev2", v2, targets.OpenFunc(src.open))
	require.NoError(t, err)
	require.Len(t, changes, 1)
	assert.Equal(t, targets.Updated, changes[0].Action)
}
