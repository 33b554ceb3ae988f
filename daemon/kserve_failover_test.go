package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cairnops/cairn/daemon"
	"github.com/cairnops/cairn/internal/gittest"
	"github.com/cairnops/cairn/internal/kubeevents"
	"github.com/cairnops/cairn/internal/kubetest"
	"github.com/cairnops/cairn/reconciler"
)

const kserveCard = `package model

card: {
	title:       "Fraud detector"
	description: "A model for tests."
	owners: ["@acme/ml"]
	risk: tier: "low"
	intendedUse: "Tests."
	limitations: []
	license:   "MIT"
	framework: "onnx"
	data: training: [{uri: "s3://bucket/train.parquet"}]
	review: lastReviewed: "2026-10-01"
}
monitors: {
	auc: {query: "auc", min: 0.8, action: "rollback", kind: "performance"}
	psi: {query: "psi", max: 0.2, action: "notify", kind: "drift"}
}
`

// TestKServeFailoverAndEvents is acceptance 4 and 5 of issue 18 on the
// kserve driver: every apply is a Normal event on the InferenceService
// naming version and revision, a refusal a Warning; a new daemon with an
// empty state directory (a leader after a failover) reads the applied
// revision back from the cluster and applies, records and tells nothing
// twice.
func TestKServeFailoverAndEvents(t *testing.T) {
	c := kubetest.Get(t)
	ctx := context.Background()
	require.NoError(t, c.InstallCRD(ctx, kubetest.FullCRD))
	ns := c.Namespace(t)
	blobs := map[string]string{"1.0.0": "fraud 1.0.0", "2.0.0": "fraud 2.0.0"}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := blobs[strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".onnx")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, b)
	}))
	t.Cleanup(srv.Close)
	var versions strings.Builder
	for _, v := range []string{"1.0.0", "2.0.0"} {
		sum := sha256.Sum256([]byte(blobs[v]))
		fmt.Fprintf(&versions, "versions: %q: artifact: {uri: %q, digest: %q}\n", v, srv.URL+"/"+v+".onnx", "sha256:"+hex.EncodeToString(sum[:]))
	}
	card := func(production string) string {
		return kserveCard + versions.String() + fmt.Sprintf("stages: production: %q\n", production)
	}
	remote := gittest.NewRemote(t)
	rev1 := remote.Seed(t, "main", map[string]string{
		"inventory.cue":                   fmt.Sprintf("package inventory\n\nsigning: required: []\ntargets: prod: {stage: \"production\", kind: \"kserve\", namespace: %q}\n", ns),
		"models/fraud-detector/model.cue": card("1.0.0"),
	}, "fraud-detector 1.0.0 in production")

	events := kubeevents.New(func(string) (*rest.Config, error) { return c.Admin(), nil })
	t.Cleanup(events.Stop)
	run := func(state string) (stop func(), status func() daemon.Status) {
		d, err := daemon.New(daemon.Options{Repo: remote.URL, StateDir: state, Interval: 100 * time.Millisecond, DriftInterval: time.Hour,
			HTTPClient: srv.Client(), Kube: func(string) (*rest.Config, error) { return c.Admin(), nil }, Events: events})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		stopped := false
		stop = func() {
			if !stopped {
				stopped = true
				cancel()
				require.NoError(t, <-done)
			}
		}
		t.Cleanup(stop)
		return stop, d.Status
	}
	waitApplied := func(status func() daemon.Status, rev string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for s := status(); s.AppliedRevision != rev; s = status() {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s to be applied: %+v", rev, s)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cs, err := kubernetes.NewForConfig(c.Admin())
	require.NoError(t, err)
	// eventsOf lists the events of fraud-detector, as kubectl describe does,
	// once there are n.
	eventsOf := func(n int) []corev1.Event {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			l, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=InferenceService,involvedObject.name=fraud-detector"})
			require.NoError(t, err)
			if len(l.Items) >= n || time.Now().After(deadline) {
				return l.Items
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	stateA := t.TempDir()
	stopA, statusA := run(stateA)
	waitApplied(statusA, rev1)
	got := eventsOf(1)
	require.Len(t, got, 1)
	assert.Equal(t, corev1.EventTypeNormal, got[0].Type)
	assert.Equal(t, "Applied", got[0].Reason)
	assert.Equal(t, "cairn created fraud-detector 1.0.0 at revision "+rev1, got[0].Message)
	stopA()

	// A new daemon, its state directory empty: it reads rev1 back from the
	// cluster (the plan changes nothing), records and tells nothing.
	stateB := t.TempDir()
	_, statusB := run(stateB)
	waitApplied(statusB, rev1)
	audit, err := reconciler.Audit(stateB)
	require.NoError(t, err)
	assert.Empty(t, audit, "the new daemon applied rev1 again")
	st, err := reconciler.States(stateB)
	require.NoError(t, err)
	assert.Equal(t, reconciler.ReadBackResult, st["prod"].Result)

	// A promotion: one Normal event naming the new version and revision.
	rev2 := remote.Seed(t, "main", map[string]string{"models/fraud-detector/model.cue": card("2.0.0")}, "fraud-detector 2.0.0 in production")
	waitApplied(statusB, rev2)
	// A refused revision: a Warning.
	rev3 := remote.Seed(t, "main", map[string]string{"models/fraud-detector/model.cue": card("9.9.9")}, "pin a version that does not exist")
	got = eventsOf(3)
	require.Len(t, got, 3, "events: %+v", got)
	var notes []string
	for _, e := range got {
		notes = append(notes, e.Type+" "+e.Reason+": "+e.Message)
	}
	assert.Contains(t, notes, "Normal Applied: cairn created fraud-detector 1.0.0 at revision "+rev1)
	assert.Contains(t, notes, "Normal Applied: cairn updated fraud-detector to 2.0.0 (from 1.0.0) at revision "+rev2)
	var warning string
	for _, n := range notes {
		if strings.HasPrefix(n, "Warning Refused: ") {
			warning = n
		}
	}
	assert.True(t, strings.HasPrefix(warning, "Warning Refused: cairn refused revision "+rev3+" (fraud-detector): "), warning)
	assert.Equal(t, rev2, statusB().AppliedRevision)
}
