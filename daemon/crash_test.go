package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/gittest"
	"github.com/cairnops/cairn/reconciler"
)

// buildCairn builds the cairn binary into a temporary directory.
func buildCairn(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cairn")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/cairnops/cairn/cmd/cairn").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// TestCrashDuringApply is acceptance 3: the real `cairn daemon` is killed
// with SIGKILL while it applies a large artifact, then restarted. Each time
// the target must serve a complete old or new version, the restarted daemon
// must converge, and in the end the audit log must hold exactly one entry
// per completed change: none lost, none duplicated.
func TestCrashDuringApply(t *testing.T) {
	kills, size := 6, 8<<20
	if testing.Short() {
		kills, size = 3, 1<<20
	}
	bin := buildCairn(t)

	files := quickstartFiles(t)
	card := strings.Split(files["models/demand-forecast/model.cue"], "versions:")[0]
	digests := map[string]string{}
	var versions strings.Builder
	rng := rand.New(rand.NewChaCha8([32]byte{'c', 'a', 'i', 'r', 'n'}))
	for _, v := range []string{"1.0.0", "2.0.0"} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		files["artifacts/big-model/"+v+"/model.bin"] = string(data)
		sum := sha256.Sum256(data)
		digests[v] = "sha256:" + hex.EncodeToString(sum[:])
		fmt.Fprintf(&versions, "versions: %q: artifact: {uri: \"file://artifacts/big-model/%s/model.bin\", digest: %q, size: %d}\n", v, v, digests[v], size)
	}
	pin := func(v string) string {
		return card + versions.String() + fmt.Sprintf("stages: development: %q\n", v)
	}

	remote := gittest.NewRemote(t)
	state := t.TempDir()
	mdir := filepath.Join(state, "targets", "development", "big-model")
	addr := freeAddr(t)
	daemon := func() *exec.Cmd {
		c := exec.Command(bin, "daemon", "--repo", remote.URL, "--state-dir", state, "--listen", addr,
			"--interval", "100ms", "--drift-interval", "1h", "--log-format", "json",
			"--trusted-key", filepath.Join(quickstartDir(t), "keys", "cairn-example.pub"))
		c.Stderr = tlog{t}
		return c
	}
	applied := func() string {
		st, err := reconciler.States(state)
		require.NoError(t, err)
		return st["dev-local"].LastAppliedRevision
	}
	converge := func(rev string) {
		t.Helper()
		c := daemon()
		require.NoError(t, c.Start())
		deadline := time.Now().Add(wait)
		// Ready (a revision loaded, signals handled) and rev applied.
		for !ready(addr) || applied() != rev {
			if time.Now().After(deadline) {
				_ = c.Process.Kill()
				_ = c.Wait()
				t.Fatalf("the daemon did not apply %s", rev)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// SIGTERM: finish what is in hand and exit 0.
		require.NoError(t, c.Process.Signal(syscall.SIGTERM))
		require.NoError(t, c.Wait())
	}
	served := func() (version string, complete bool) {
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
	journal := filepath.Join(state, JournalFile)
	inFlight := func() bool {
		_, err := os.Stat(journal)
		return err == nil
	}

	files["models/big-model/model.cue"] = pin("1.0.0")
	revs := map[string]string{remote.Seed(t, "main", files, "quick start with a big model"): "1.0.0"}
	converge(firstKey(revs))

	old, midApply := "1.0.0", 0
	for i := range kills {
		want := []string{"2.0.0", "1.0.0"}[i%2]
		rev := remote.Seed(t, "main", map[string]string{"models/big-model/model.cue": pin(want)}, "pin big-model "+want)
		revs[rev] = want

		c := daemon()
		require.NoError(t, c.Start())
		// Kill once the apply is in hand (the journal is written), at a
		// random moment of it; give up waiting after the apply is done.
		deadline := time.Now().Add(wait)
		for !inFlight() && applied() != rev && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(rand.Int64N(int64(50 * time.Millisecond))))
		if inFlight() {
			midApply++
		}
		require.NoError(t, c.Process.Signal(syscall.SIGKILL))
		_ = c.Wait()

		got, complete := served()
		assert.True(t, complete, "kill %d: current -> %s is torn", i, got)
		assert.Contains(t, []string{old, want}, got, "kill %d: serves neither %s nor %s", i, old, want)

		converge(rev)
		got, complete = served()
		assert.True(t, complete && got == want, "kill %d: after converging serves %s, want %s", i, got, want)
		assert.False(t, inFlight(), "kill %d: the journal is left behind", i)
		old = want
	}

	// SIGTERM while an apply is in hand: it finishes, the daemon exits 0.
	want := []string{"2.0.0", "1.0.0"}[kills%2]
	rev := remote.Seed(t, "main", map[string]string{"models/big-model/model.cue": pin(want)}, "pin big-model "+want)
	revs[rev] = want
	c := daemon()
	require.NoError(t, c.Start())
	deadline := time.Now().Add(wait)
	for !inFlight() && applied() != rev && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	termInFlight := inFlight()
	require.NoError(t, c.Process.Signal(syscall.SIGTERM))
	require.NoError(t, c.Wait(), "exit after SIGTERM")
	assert.Equal(t, rev, applied(), "the apply in hand at SIGTERM was not finished")
	assert.False(t, inFlight())
	got, complete := served()
	assert.True(t, complete && got == want, "after SIGTERM serves %s, want %s", got, want)

	audit, err := reconciler.Audit(state)
	require.NoError(t, err)
	seen := map[string]int{}
	for _, e := range audit {
		seen[auditKey(e.Revision, e.Target, e.Model, e.Action, e.To)]++
	}
	for k, n := range seen {
		assert.Equal(t, 1, n, "duplicated audit entry %q", k)
	}
	for rev, want := range revs {
		n := 0
		for _, e := range audit {
			if e.Revision == rev && e.Target == "dev-local" && e.Model == "big-model" && e.To == want &&
				(e.Action == "created" || e.Action == "updated") {
				n++
			}
		}
		assert.Equal(t, 1, n, "audit entries of big-model %s at %s", want, rev)
	}
	recovered := 0
	for _, e := range audit {
		if e.Result == recoveredResult {
			recovered++
		}
	}
	t.Logf("%d kills of the daemon applying a %d MiB artifact, %d while the apply was in hand, %d changes recorded from the journal; all converged, audit complete; SIGTERM with the apply in hand: %v",
		kills, size>>20, midApply, recovered, termInFlight)
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// ready reports whether the daemon at addr answers /readyz with 200.
func ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}
