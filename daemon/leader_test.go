package daemon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cairnops/cairn/internal/gittest"
	"github.com/cairnops/cairn/internal/kubetest"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
)

// Lease timings of the leader election test: short, so that a failover
// after SIGKILL takes seconds.
const (
	testLease = 4 * time.Second
	testRenew = 3 * time.Second
	testRetry = 300 * time.Millisecond
)

// replica is one `cairn daemon --leader-elect` process of the test.
type replica struct {
	name, addr, state string
	cmd               *exec.Cmd
	stdout            *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// status fetches the replica's /api/v1/status; ok is false when it does not answer.
func (r *replica) status() (s Status, ok bool) {
	resp, err := http.Get("http://" + r.addr + "/api/v1/status")
	if err != nil {
		return s, false
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s) == nil
}

func (r *replica) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + r.addr + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// audit returns the audit entries the replica wrote to stdout.
func (r *replica) audit(t *testing.T) []reconciler.AuditEntry {
	t.Helper()
	var out []reconciler.AuditEntry
	sc := bufio.NewScanner(strings.NewReader(r.stdout.String()))
	for sc.Scan() {
		var e reconciler.AuditEntry
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), "stdout line %q", sc.Text())
		out = append(out, e)
	}
	return out
}

// TestLeaderElection is acceptance 1, 2 and 5 of issue 18: two real
// `cairn daemon --leader-elect` processes against the real API server share
// one local target root, with their own state directories (as pods with
// emptyDirs). Exactly one applies; the follower names it. The leader is
// killed with SIGKILL while it applies; the follower takes over, reads the
// applied revision back from the target and finishes the apply; every
// change is in the audit exactly once across both. A new replica joins;
// SIGTERM to the leader hands the lease over at once (before the lease
// would have expired), and the new leader applies nothing again.
func TestLeaderElection(t *testing.T) {
	c := kubetest.Get(t)
	ns := c.Namespace(t)
	kubeconfig, err := c.WriteKubeconfig(filepath.Join(t.TempDir(), "kubeconfig"), kubetest.AdminToken)
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(c.Admin())
	require.NoError(t, err)
	bin := buildCairn(t)

	// The artifacts of big-model come over https, so that the test can hold
	// the apply of 2.0.0 in its staging phase and kill the leader there.
	blobs := map[string][]byte{"1.0.0": bytes.Repeat([]byte("one "), 1<<16), "2.0.0": bytes.Repeat([]byte("two "), 1<<16)}
	requested, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".bin")
		b, ok := blobs[v]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if v == "2.0.0" {
			once.Do(func() { close(requested) })
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cacheDir := t.TempDir() // not the user's cache
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))

	files := quickstartFiles(t)
	card := strings.Split(files["models/demand-forecast/model.cue"], "versions:")[0]
	var versions strings.Builder
	for _, v := range []string{"1.0.0", "2.0.0"} {
		sum := sha256.Sum256(blobs[v])
		fmt.Fprintf(&versions, "versions: %q: artifact: {uri: %q, digest: %q}\n", v, srv.URL+"/"+v+".bin", "sha256:"+hex.EncodeToString(sum[:]))
	}
	pin := func(v string) string { return card + versions.String() + fmt.Sprintf("stages: development: %q\n", v) }
	files["models/big-model/model.cue"] = pin("1.0.0")
	remote := gittest.NewRemote(t)
	rev1 := remote.Seed(t, "main", files, "quick start with big-model 1.0.0")

	targetRoot := t.TempDir()
	secretFile := filepath.Join(t.TempDir(), "webhook-secret")
	require.NoError(t, os.WriteFile(secretFile, secret, 0o600))
	start := func(name string) *replica {
		r := &replica{name: name, addr: freeAddr(t), state: t.TempDir(), stdout: &syncBuffer{}}
		r.cmd = exec.Command(bin, "daemon", "--repo", remote.URL, "--state-dir", r.state, "--target-root", targetRoot,
			"--listen", r.addr, "--webhook-secret-file", secretFile, "--interval", "200ms", "--drift-interval", "1h", "--log-format", "json",
			"--trusted-key", filepath.Join(quickstartDir(t), "keys", "cairn-example.pub"),
			"--leader-elect", "--kubeconfig", kubeconfig, "--leader-election-namespace", ns,
			"--leader-election-lease-duration", testLease.String(), "--leader-election-renew-deadline", testRenew.String(),
			"--leader-election-retry-period", testRetry.String())
		r.cmd.Env = append(os.Environ(), "POD_NAME="+name, "SSL_CERT_FILE="+caFile, inventory.CacheEnv+"="+cacheDir)
		r.cmd.Stdout, r.cmd.Stderr = r.stdout, tlog{t}
		require.NoError(t, r.cmd.Start())
		t.Cleanup(func() {
			if r.cmd.ProcessState == nil {
				_ = r.cmd.Process.Kill()
				_ = r.cmd.Wait()
			}
		})
		return r
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(wait)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// leaderOf returns the replica whose status says it leads and has rev applied.
	leaderOf := func(rev string, rs ...*replica) *replica {
		for _, r := range rs {
			if s, ok := r.status(); ok && s.Role == "leader" && s.AppliedRevision == rev {
				return r
			}
		}
		return nil
	}

	a, b := start("cairn-a"), start("cairn-b")
	waitFor("one replica to lead and apply the first revision", func() bool { return leaderOf(rev1, a, b) != nil })
	leader := leaderOf(rev1, a, b)
	follower := map[*replica]*replica{a: b, b: a}[leader]
	waitFor("the follower to name the leader", func() bool {
		s, ok := follower.status()
		return ok && s.Leader == leader.name && s.Ready
	})

	// Acceptance 2: the follower's status and page name the leader, and
	// cairn_leader is 1 on exactly one replica.
	s, _ := follower.status()
	assert.Equal(t, "follower", s.Role)
	assert.Equal(t, follower.name, s.Identity)
	assert.Empty(t, s.AppliedRevision, "the follower applied nothing")
	assert.Contains(t, follower.get(t, "/"), "This replica follows; <code>"+leader.name+"</code> leads.")
	assert.Equal(t, "cairn_leader 1", metricLine(leader.get(t, "/metrics"), "cairn_leader "))
	assert.Equal(t, "cairn_leader 0", metricLine(follower.get(t, "/metrics"), "cairn_leader "))
	// A push webhook that reaches the follower is accepted: the leader's
	// poll fetches it.
	body := pushBody("main", rev1)
	assert.Equal(t, http.StatusAccepted, hook(t, "http://"+follower.addr, "push", sign(secret, body), body))
	assert.Empty(t, follower.audit(t), "the follower wrote audit entries")
	_, err = os.Stat(filepath.Join(follower.state, "repo"))
	assert.True(t, os.IsNotExist(err), "the follower fetched the repository")

	// SIGKILL the leader while it stages big-model 2.0.0.
	rev2 := remote.Seed(t, "main", map[string]string{"models/big-model/model.cue": pin("2.0.0")}, "pin big-model 2.0.0")
	select {
	case <-requested:
	case <-time.After(wait):
		t.Fatal("the leader never fetched big-model 2.0.0")
	}
	_, err = os.Stat(filepath.Join(leader.state, JournalFile))
	require.NoError(t, err, "the leader's apply is not in hand")
	killed := time.Now()
	require.NoError(t, leader.cmd.Process.Signal(syscall.SIGKILL))
	_ = leader.cmd.Wait()
	close(release)
	waitFor("the follower to take over and apply the second revision", func() bool { return leaderOf(rev2, follower) != nil })
	t.Logf("after SIGKILL of the leader, %s led and applied %s within %s (lease duration %s)", follower.name, rev2[:12], time.Since(killed).Round(10*time.Millisecond), testLease)
	served, err := os.Readlink(filepath.Join(targetRoot, "development", "big-model", "current"))
	require.NoError(t, err)
	assert.Equal(t, "2.0.0", served)

	// Every change exactly once across both audits (stdout; the files agree).
	type key struct{ rev, target, model, action, to string }
	count := map[key]int{}
	for _, r := range []*replica{a, b} {
		out := r.audit(t)
		file, err := reconciler.Audit(r.state)
		require.NoError(t, err)
		assert.Equal(t, file, out, "%s: the audit on stdout and in the file differ", r.name)
		for _, e := range out {
			count[key{e.Revision, e.Target, e.Model, e.Action, e.To}]++
		}
	}
	for k, n := range count {
		assert.Equal(t, 1, n, "audit entry %+v", k)
	}
	assert.Equal(t, 1, count[key{rev1, "dev-local", "big-model", "created", "1.0.0"}], "big-model 1.0.0 at the first revision")
	assert.Equal(t, 1, count[key{rev2, "dev-local", "big-model", "updated", "2.0.0"}], "big-model 2.0.0 at the second revision")
	for k := range count {
		assert.Contains(t, []string{rev1, rev2}, k.rev)
	}
	st, err := reconciler.States(follower.state)
	require.NoError(t, err)
	assert.Equal(t, rev2, st["dev-local"].LastAppliedRevision)

	// A new replica joins (a new pod, a new emptyDir) and follows.
	nu := start("cairn-c")
	waitFor("the new replica to follow", func() bool {
		s, ok := nu.status()
		return ok && s.Role == "follower" && s.Leader == follower.name
	})
	// SIGTERM the leader: it releases the lease, and the new replica takes
	// it before the lease would have expired.
	lease, err := cs.CoordinationV1().Leases(ns).Get(context.Background(), LeaseName, metav1.GetOptions{})
	require.NoError(t, err)
	renewed := lease.Spec.RenewTime.Time
	term := time.Now()
	require.NoError(t, follower.cmd.Process.Signal(syscall.SIGTERM))
	var got *coordinationv1.Lease
	waitFor("the new replica to take the lease", func() bool {
		got, err = cs.CoordinationV1().Leases(ns).Get(context.Background(), LeaseName, metav1.GetOptions{})
		return err == nil && got.Spec.HolderIdentity != nil && *got.Spec.HolderIdentity == nu.name
	})
	handover := time.Since(term)
	require.NoError(t, follower.cmd.Wait(), "the leader exits 0 after SIGTERM")
	assert.True(t, got.Spec.AcquireTime.Time.Before(renewed.Add(testLease)),
		"the lease was taken at %s, not before the old leader's lease (renewed %s) expired: it was not released", got.Spec.AcquireTime.Time, renewed)
	t.Logf("SIGTERM handover: %s (lease duration %s, retry period %s)", handover.Round(10*time.Millisecond), testLease, testRetry)

	// Acceptance 5: the new leader reads the applied revision back from
	// the target and applies nothing twice.
	waitFor("the new leader to reconcile the second revision", func() bool { return leaderOf(rev2, nu) != nil })
	assert.Empty(t, nu.audit(t), "the new leader applied again")
	st, err = reconciler.States(nu.state)
	require.NoError(t, err)
	assert.Equal(t, rev2, st["dev-local"].LastAppliedRevision)
	assert.Equal(t, reconciler.ReadBackResult, st["dev-local"].Result)
}

// TestLeaderElectionInProcess runs two elected daemons in the test process
// (so that the race detector sees runElected): one leads and applies; when
// its context ends it releases the lease, and the other leads and reads the
// applied revision back from the shared target.
func TestLeaderElectionInProcess(t *testing.T) {
	c := kubetest.Get(t)
	ns := c.Namespace(t)
	remote := gittest.NewRemote(t)
	rev := remote.Seed(t, "main", quickstartFiles(t), "quick start")
	root := t.TempDir()
	type replica struct {
		d      *Daemon
		cancel context.CancelFunc
		done   chan error
	}
	run := func(name string) *replica {
		d, err := New(Options{Repo: remote.URL, StateDir: t.TempDir(), TargetRoot: root, Interval: 100 * time.Millisecond,
			DriftInterval: time.Hour, Trust: exampleTrust(t), Logger: testLogger(t),
			LeaderElection: &LeaderElection{Config: c.Admin(), Namespace: ns, Identity: name,
				LeaseDuration: testLease, RenewDeadline: testRenew, RetryPeriod: testRetry}})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		r := &replica{d: d, cancel: cancel, done: make(chan error, 1)}
		go func() { r.done <- d.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			<-r.done
		})
		return r
	}
	leads := func(r *replica) bool { s := r.d.Status(); return s.Role == "leader" && s.AppliedRevision == rev }
	a, b := run("in-a"), run("in-b")
	deadline := time.Now().Add(wait)
	for !leads(a) && !leads(b) {
		require.True(t, time.Now().Before(deadline), "nobody led")
		time.Sleep(20 * time.Millisecond)
	}
	leader, follower := a, b
	if leads(b) {
		leader, follower = b, a
	}
	for follower.d.Status().Leader != leader.d.opts.LeaderElection.Identity {
		require.True(t, time.Now().Before(deadline), "the follower does not name the leader")
		time.Sleep(20 * time.Millisecond)
	}
	assert.Equal(t, "follower", follower.d.Status().Role)
	leader.cancel()
	require.NoError(t, <-leader.done)
	leader.done <- nil // for the cleanup
	for !leads(follower) {
		require.True(t, time.Now().Before(deadline), "the follower did not take over")
		time.Sleep(20 * time.Millisecond)
	}
	st, err := reconciler.States(follower.d.opts.StateDir)
	require.NoError(t, err)
	assert.Equal(t, reconciler.ReadBackResult, st["dev-local"].Result)
}
