package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/inventory"
)

// TestApplyCrash kills the real `cairn apply` binary with SIGKILL at random
// moments while it swaps a large artifact between two versions. After each
// kill the target must serve the old or the new version completely, and the
// next apply must converge to the desired version with nothing left over.
func TestApplyCrash(t *testing.T) {
	bin, err := exec.LookPath("cairn") // set up in $PATH by testscript.Main
	require.NoError(t, err)
	kills, size := 50, 8<<20
	if testing.Short() {
		kills, size = 8, 1<<20
	}

	_, file, _, _ := runtime.Caller(0)
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join(filepath.Dir(file), "..", "..", "examples", "quickstart"))))
	card, err := os.ReadFile(filepath.Join(dir, "models/demand-forecast/model.cue"))
	require.NoError(t, err)
	card = []byte(strings.Split(string(card), "versions:")[0])

	digests := map[string]string{}
	var versions strings.Builder
	rng := rand.New(rand.NewChaCha8([32]byte{'c', 'a', 'i', 'r', 'n'}))
	for _, v := range []string{"1.0.0", "2.0.0"} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		p := filepath.Join(dir, "artifacts", "big-model", v, "model.bin")
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, 0o644))
		sum := sha256.Sum256(data)
		digests[v] = "sha256:" + hex.EncodeToString(sum[:])
		fmt.Fprintf(&versions, "versions: %q: artifact: {uri: \"file://artifacts/big-model/%s/model.bin\", digest: %q, size: %d}\n",
			v, v, digests[v], size)
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "models", "big-model"), 0o755))
	pin := func(v string) {
		src := string(card) + versions.String() + fmt.Sprintf("stages: development: %q\n", v)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "models", "big-model", "model.cue"), []byte(src), 0o644))
	}
	root, state := filepath.Join(t.TempDir(), "targets"), filepath.Join(t.TempDir(), "state")
	cacheDir := t.TempDir() // not the user's cache
	// The quickstart pins a signed version in production, which requires
	// signatures: apply refuses the revision, even for dev-local alone,
	// unless the operator trusts the example key from outside the inventory.
	key := filepath.Join(t.TempDir(), "trust.pub")
	pub, err := os.ReadFile(filepath.Join(dir, "keys", "cairn-example.pub"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(key, pub, 0o644))
	apply := func() *exec.Cmd {
		c := exec.Command(bin, "apply", "--chdir", dir, "--target", "dev-local", "--target-root", root, "--state-dir", state, "--trusted-key", key)
		c.Env = append(os.Environ(), "CAIRN_NOW=2026-11-23T12:00:00Z", inventory.CacheEnv+"="+cacheDir)
		return c
	}
	mdir := filepath.Join(root, "development", "big-model")
	served := func() (version string, ok bool) {
		link, err := os.Readlink(filepath.Join(mdir, "current"))
		if errors.Is(err, os.ErrNotExist) {
			return "", true
		}
		require.NoError(t, err)
		data, err := os.ReadFile(filepath.Join(mdir, "current", "model.bin"))
		if err != nil {
			return link, false
		}
		sum := sha256.Sum256(data)
		return link, "sha256:"+hex.EncodeToString(sum[:]) == digests[link]
	}

	// One uninterrupted apply measures how long an apply takes, so that the
	// kills spread over the whole run.
	pin("1.0.0")
	start := time.Now()
	out, err := apply().CombinedOutput()
	require.NoError(t, err, "%s", out)
	took := time.Since(start)

	old, killed := "1.0.0", 0
	for i := range kills {
		want := []string{"2.0.0", "1.0.0"}[i%2]
		pin(want)
		c := apply()
		require.NoError(t, c.Start())
		time.Sleep(time.Duration(rand.Int64N(int64(took))))
		_ = c.Process.Signal(syscall.SIGKILL)
		err := c.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) && !ee.Exited() {
			killed++
		}

		got, complete := served()
		assert.True(t, complete, "kill %d: current -> %s is torn", i, got)
		assert.Contains(t, []string{old, want}, got, "kill %d: serves neither %s nor %s", i, old, want)

		out, err := apply().CombinedOutput()
		require.NoError(t, err, "kill %d: converging apply: %s", i, out)
		got, complete = served()
		assert.True(t, complete && got == want, "kill %d: after converging serves %s, want %s", i, got, want)
		entries, err := os.ReadDir(mdir)
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		slices.Sort(names)
		assert.Equal(t, []string{want, "current"}, names, "kill %d: leftovers", i)
		old = want
	}
	t.Logf("%d applies of a %d MiB artifact, %d killed mid-run by SIGKILL, all converged", kills, size>>20, killed)
}
