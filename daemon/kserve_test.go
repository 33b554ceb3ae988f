package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/cairnops/cairn/internal/gittest"
	"github.com/cairnops/cairn/internal/kubetest"
)

// kserveModel is a model pinned at staging to version, whose versions'
// artifacts base serves.
func kserveModel(base, staging string) string {
	digest := func(s string) string { sum := sha256.Sum256([]byte(s)); return "sha256:" + hex.EncodeToString(sum[:]) }
	return `package model

card: {
	title:       "Fraud"
	description: "Scores card transactions."
	owners: ["@acme/ml"]
	risk: tier: "low"
	intendedUse: "Tests."
	limitations: []
	license:   "proprietary"
	framework: "onnx"
	data: training: [{uri: "s3://bucket/train.parquet"}]
	review: lastReviewed: "2026-11-01"
}

versions: "1.0.0": artifact: {uri: "` + base + `/fraud/1.0.0.onnx", digest: "` + digest("fraud 1.0.0") + `"}
versions: "1.1.0": artifact: {uri: "` + base + `/fraud/1.1.0.onnx", digest: "` + digest("fraud 1.1.0") + `"}

stages: staging: "` + staging + `"
`
}

// TestDaemonAppliesToKServe is acceptance 6 of the kserve target: the
// daemon applies a promotion to a kserve target on a signed push webhook,
// and /api/v1/status and the model's page show what KServe says of it.
func TestDaemonAppliesToKServe(t *testing.T) {
	c := kubetest.Get(t)
	ctx := context.Background()
	require.NoError(t, c.InstallCRD(ctx, kubetest.FullCRD))
	ns := c.Namespace(t)
	dyn, err := dynamic.NewForConfig(c.Admin())
	require.NoError(t, err)
	isvcs := dyn.Resource(kubetest.InferenceServices).Namespace(ns)

	artifacts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/fraud/"), ".onnx")
		w.Write([]byte("fraud " + v))
	}))
	t.Cleanup(artifacts.Close)

	remote := gittest.NewRemote(t)
	first := remote.Seed(t, "main", map[string]string{
		"inventory.cue":          "package inventory\n\nsigning: required: []\ntargets: \"stage-kserve\": {stage: \"staging\", kind: \"kserve\", namespace: \"" + ns + "\"}\n",
		"models/fraud/model.cue": kserveModel(artifacts.URL, "1.0.0"),
	}, "fraud 1.0.0 to staging")
	r := start(t, Options{Repo: remote.URL, StateDir: t.TempDir(), Interval: time.Hour, DriftInterval: 200 * time.Millisecond,
		WebhookSecret: secret, HTTPClient: artifacts.Client(),
		Kube: func(string) (*rest.Config, error) { return c.Admin(), nil }})

	r.waitStatus(t, "the first revision applied", func(s Status) bool { return s.AppliedRevision == first })
	storageURI := func() string {
		o, err := isvcs.Get(ctx, "fraud", metav1.GetOptions{})
		require.NoError(t, err)
		v, _, _ := unstructured.NestedString(o.Object, "spec", "predictor", "model", "storageUri")
		return v
	}
	assert.Equal(t, artifacts.URL+"/fraud/1.0.0.onnx", storageURI())

	promo := remote.Seed(t, "main", map[string]string{"models/fraud/model.cue": kserveModel(artifacts.URL, "1.1.0")}, "promote fraud 1.1.0")
	body := pushBody("main", promo)
	assert.Equal(t, http.StatusUnauthorized, hook(t, r.srv.URL, "push", sign([]byte("wrong"), body), body))
	assert.Equal(t, http.StatusAccepted, hook(t, r.srv.URL, "push", sign(secret, body), body))
	r.waitStatus(t, "the promotion applied", func(s Status) bool { return s.AppliedRevision == promo })
	assert.Equal(t, artifacts.URL+"/fraud/1.1.0.onnx", storageURI())

	// Not ready until the controller says so; then ready, with its URL.
	s := r.waitStatus(t, "a drift run saw the object", func(s Status) bool { return len(s.Targets) == 1 && len(s.Targets[0].Served) == 1 })
	assert.False(t, s.Targets[0].Served[0].Ready)
	o, err := isvcs.Get(ctx, "fraud", metav1.GetOptions{})
	require.NoError(t, err)
	o.Object["status"] = map[string]any{
		"url":        "http://fraud.models.example.com",
		"conditions": []any{map[string]any{"type": "Ready", "status": "True"}},
		"modelStatus": map[string]any{"transitionStatus": "UpToDate",
			"states": map[string]any{"activeModelState": "Loaded", "targetModelState": "Loaded"}},
	}
	_, err = isvcs.UpdateStatus(ctx, o, metav1.UpdateOptions{FieldManager: "kserve-controller"})
	require.NoError(t, err)
	s = r.waitStatus(t, "the model ready", func(s Status) bool {
		return len(s.Targets) == 1 && len(s.Targets[0].Served) == 1 && s.Targets[0].Served[0].Ready
	})
	assert.Equal(t, ServedModel{Model: "fraud", Ready: true, URL: "http://fraud.models.example.com"}, s.Targets[0].Served[0])
	assert.Equal(t, promo, s.Targets[0].LastAppliedRevision)
	assert.Contains(t, r.get(t, "/models/fraud", http.StatusOK), `ready at <a href="http://fraud.models.example.com">http://fraud.models.example.com</a>`)
}
