package local_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/targets"
	"github.com/cairnops/cairn/targets/local"
)

// The crash test re-executes the test binary as a child that applies one
// model; these variables carry the child's instructions.
const (
	envCrashChild = "CAIRN_LOCAL_CRASH_CHILD"
	envCrashDir   = "CAIRN_LOCAL_CRASH_DIR"
	envCrashSrc   = "CAIRN_LOCAL_CRASH_SRC"
	envCrashModel = "CAIRN_LOCAL_CRASH_MODEL" // name@version@digest@uri
)

func TestMain(m *testing.M) {
	if os.Getenv(envCrashChild) == "1" {
		os.Exit(crashChild())
	}
	os.Exit(m.Run())
}

// crashChild applies the model described by the environment, streaming the
// artifact slowly, and prints "start" and "done" around the apply.
func crashChild() int {
	parts := strings.Split(os.Getenv(envCrashModel), "@")
	if len(parts) != 4 {
		fmt.Fprintln(os.Stderr, "bad", envCrashModel)
		return 2
	}
	m := targets.Model{Name: parts[0], Version: parts[1], Artifact: targets.Artifact{Digest: parts[2], URI: parts[3]}}
	tg, err := local.New(os.Getenv(envCrashDir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	src := os.Getenv(envCrashSrc)
	open := targets.OpenFunc(func(ctx context.Context, a targets.Artifact) (io.ReadCloser, error) {
		f, err := os.Open(filepath.Join(src, strings.TrimPrefix(a.URI, "file://")))
		if err != nil {
			return nil, err
		}
		return &slowReader{f: f}, nil
	})
	fmt.Println("start")
	if _, err := tg.Apply(context.Background(), "child-"+m.Version, []targets.Model{m}, open); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("done")
	return 0
}

// slowReader pauses after every MiB so that a kill can land mid-stream.
type slowReader struct {
	f    *os.File
	read int64
}

func (s *slowReader) Read(p []byte) (int, error) {
	n, err := s.f.Read(p)
	before := s.read
	s.read += int64(n)
	if s.read>>20 != before>>20 {
		time.Sleep(3 * time.Millisecond)
	}
	return n, err
}

func (s *slowReader) Close() error { return s.f.Close() }

// writeRandom writes size pseudo-random bytes to path and returns their digest.
func writeRandom(t *testing.T, path string, size int, seed uint64) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	r := rand.NewChaCha8([32]byte{byte(seed)})
	buf := make([]byte, size)
	_, _ = r.Read(buf)
	require.NoError(t, os.WriteFile(path, buf, 0o644))
	return digest(buf)
}

func TestCrashSafety(t *testing.T) {
	size, kills := 64<<20, 50
	if testing.Short() {
		size, kills = 8<<20, 10
	}
	ctx := context.Background()
	src := t.TempDir()
	dir := filepath.Join(t.TempDir(), "models")
	versions := []targets.Model{
		{Name: "big", Version: "1.0.0", Artifact: targets.Artifact{URI: "file://a/weights.bin", Digest: writeRandom(t, filepath.Join(src, "a/weights.bin"), size, 1)}},
		{Name: "big", Version: "2.0.0", Artifact: targets.Artifact{URI: "file://b/weights.bin", Digest: writeRandom(t, filepath.Join(src, "b/weights.bin"), size, 2)}},
	}
	digests := map[string]string{"1.0.0": versions[0].Artifact.Digest, "2.0.0": versions[1].Artifact.Digest}
	open := targets.OpenFunc(func(ctx context.Context, a targets.Artifact) (io.ReadCloser, error) {
		return os.Open(filepath.Join(src, strings.TrimPrefix(a.URI, "file://")))
	})
	tg, err := local.New(dir)
	require.NoError(t, err)
	_, err = tg.Apply(ctx, "initial", versions[:1], open)
	require.NoError(t, err)

	exe, err := os.Executable()
	require.NoError(t, err)
	child := func(m targets.Model) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(exe, "-test.run=^$")
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, os.Stderr
		cmd.Env = append(os.Environ(), envCrashChild+"=1", envCrashDir+"="+dir, envCrashSrc+"="+src,
			envCrashModel+"="+strings.Join([]string{m.Name, m.Version, m.Artifact.Digest, m.Artifact.URI}, "@"))
		return cmd, out
	}

	// One uninterrupted run calibrates how long a child apply takes.
	cmd, out := child(versions[1])
	start := time.Now()
	require.NoError(t, cmd.Run())
	full := time.Since(start)
	require.Equal(t, "start\ndone\n", out.String())
	now := 1 // index of the version deployed

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d, uninterrupted child apply %v", seed, full)
	mid, swapped := 0, 0
	for i := range kills {
		to := versions[1-now]
		cmd, out := child(to)
		require.NoError(t, cmd.Start())
		time.Sleep(time.Duration(rng.Int64N(int64(full) * 6 / 5)))
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		inFlight := strings.Contains(out.String(), "start") && !strings.Contains(out.String(), "done")
		if inFlight {
			mid++
		}

		// current serves a complete old or new version.
		link, err := os.Readlink(filepath.Join(dir, "big", "current"))
		require.NoError(t, err, "kill %d", i)
		want, ok := digests[link]
		require.True(t, ok, "kill %d: current -> %q", i, link)
		require.Equal(t, want, fileDigest(t, filepath.Join(dir, "big", link, "weights.bin")), "kill %d: torn version %s", i, link)
		if inFlight && link == to.Version {
			swapped++
		}

		// The next apply converges.
		_, err = tg.Apply(ctx, fmt.Sprintf("converge-%d", i), []targets.Model{to}, open)
		require.NoError(t, err, "kill %d", i)
		obs, err := tg.Observe(ctx)
		require.NoError(t, err)
		require.Equal(t, []targets.Deployed{{Name: "big", Version: to.Version, Digest: to.Artifact.Digest}}, obs, "kill %d", i)
		entries, err := os.ReadDir(filepath.Join(dir, "big"))
		require.NoError(t, err)
		assert.Len(t, entries, 2, "kill %d: only current and %s remain", i, to.Version)
		assert.Empty(t, leftovers(t, dir), "kill %d", i)
		st, err := tg.State(ctx)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("converge-%d", i), st.LastAppliedRevision)
		now = 1 - now
	}
	t.Logf("%d of %d kills landed mid-apply (%d of them after current was swapped)", mid, kills, swapped)
}
