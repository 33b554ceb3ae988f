package kubeevents_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cairnops/cairn/daemon"
	"github.com/cairnops/cairn/internal/kubeevents"
	"github.com/cairnops/cairn/internal/kubetest"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/schema"
	"github.com/cairnops/cairn/targets"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// TestEvents is acceptance 4 of issue 18: after an apply the
// InferenceService has a Normal event from cairn naming the version and
// the revision, and a refusal gives a Warning; both are found the way
// `kubectl describe isvc` finds them (core/v1 events by involvedObject).
func TestEvents(t *testing.T) {
	c := kubetest.Get(t)
	ctx := context.Background()
	require.NoError(t, c.InstallCRD(ctx, kubetest.FullCRD))
	ns := c.Namespace(t)
	dyn, err := dynamic.NewForConfig(c.Admin())
	require.NoError(t, err)
	isvc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
		"metadata": map[string]any{"name": "fraud-detector"},
		"spec": map[string]any{"predictor": map[string]any{"model": map[string]any{
			"modelFormat": map[string]any{"name": "sklearn"}, "storageUri": "https://models.example/fraud-detector/2.3.0/model.joblib"}}}}}
	isvc, err = dyn.Resource(kubeevents.InferenceServices).Namespace(ns).Create(ctx, isvc, metav1.CreateOptions{})
	require.NoError(t, err)

	const rev = "0123456789abcdef0123456789abcdef01234567"
	inv := &inventory.Inventory{Source: &inventory.Source{Revision: rev}, Settings: schema.Settings{
		Stages: []string{"production"},
		Targets: map[string]schema.Target{
			"prod-kserve": {Stage: "production", Kind: "kserve", Config: map[string]any{"namespace": ns}},
			"prod-local":  {Stage: "production", Kind: "local", Config: map[string]any{"path": "production"}},
		}}}
	change := targets.Change{Model: "fraud-detector", Action: targets.Updated, From: "2.2.0", To: "2.3.0"}
	plans := []reconciler.TargetPlan{
		{Target: "prod-kserve", Changes: reconciler.ChangeSet{change, {Model: "churn", Action: targets.Unchanged, To: "1.0.0"}}},
		{Target: "prod-local", Changes: reconciler.ChangeSet{change}},
	}
	applied := daemon.AppliedEvents(inv, plans, false)
	require.Len(t, applied, 1, "one event: the kserve target's one change")
	refused := daemon.RefusedEvents(inv, "1 error: models/fraud-detector/model.cue:12:3: pin-digest", []string{"fraud-detector", "never-deployed"})
	require.Len(t, refused, 2)

	rec := kubeevents.New(func(kubeContext string) (*rest.Config, error) {
		assert.Empty(t, kubeContext)
		return c.Admin(), nil
	})
	defer rec.Stop()
	for _, e := range append(applied, refused...) {
		require.NoError(t, rec.Record(ctx, e))
	}

	cs, err := kubernetes.NewForConfig(c.Admin())
	require.NoError(t, err)
	// As kubectl describe asks for them.
	sel := fields.Set{"involvedObject.kind": "InferenceService", "involvedObject.name": "fraud-detector",
		"involvedObject.namespace": ns, "involvedObject.uid": string(isvc.GetUID())}.AsSelector().String()
	var got []corev1.Event
	deadline := time.Now().Add(time.Minute)
	for len(got) < 2 && time.Now().Before(deadline) {
		l, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
		require.NoError(t, err)
		got = l.Items
		time.Sleep(50 * time.Millisecond)
	}
	require.Len(t, got, 2, "events of fraud-detector")
	byType := map[string]corev1.Event{}
	for _, e := range got {
		byType[e.Type] = e
	}
	normal, warning := byType[corev1.EventTypeNormal], byType[corev1.EventTypeWarning]
	assert.Equal(t, "Applied", normal.Reason)
	assert.Equal(t, "cairn updated fraud-detector to 2.3.0 (from 2.2.0) at revision "+rev, normal.Message)
	assert.Equal(t, kubeevents.ReportingController, normal.ReportingController)
	assert.Equal(t, "Refused", warning.Reason)
	assert.True(t, strings.HasPrefix(warning.Message, "cairn refused revision "+rev), warning.Message)
	assert.Contains(t, warning.Message, "pin-digest")

	// Nothing for an object that does not exist.
	l, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=never-deployed"})
	require.NoError(t, err)
	assert.Empty(t, l.Items)
}
