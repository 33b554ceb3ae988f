//go:build unix

package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockPollInterval is how often a waiting Apply tries the lock again.
const lockPollInterval = 50 * time.Millisecond

// lockDir takes an exclusive flock on the directory path, so that two
// processes (a daemon and a hand-run `cairn apply`, say) never apply to one
// target at once. It waits for the lock until ctx is done. The returned
// func releases it.
func lockDir(ctx context.Context, path string) (func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("locking target %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking target %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another apply to target %s: %w", path, ctx.Err())
		case <-time.After(lockPollInterval):
		}
	}
}
