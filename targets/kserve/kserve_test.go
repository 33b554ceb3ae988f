package kserve_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/cairnops/cairn/artifact"
	"github.com/cairnops/cairn/internal/kubetest"
	"github.com/cairnops/cairn/internal/registrytest"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/targets"
	"github.com/cairnops/cairn/targets/kserve"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// artifacts are the bytes served for each artifact URI, and the opener that
// serves them as the artifact opener would.
type artifacts map[string][]byte

func (a artifacts) open(_ context.Context, art targets.Artifact) (io.ReadCloser, error) {
	b, ok := a[art.URI]
	if !ok {
		return nil, errors.New("404 Not Found: " + art.URI)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (a artifacts) model(name, version string) targets.Model {
	uri := "https://models.example/" + name + "/" + version + ".onnx"
	b := []byte(name + " " + version)
	a[uri] = b
	sum := sha256.Sum256(b)
	return targets.Model{Name: name, Version: version,
		Artifact: targets.Artifact{URI: uri, Digest: "sha256:" + hex.EncodeToString(sum[:])},
		Serving:  targets.Serving{Format: "onnx"}}
}

type cluster struct {
	*kubetest.Cluster
	ns  string
	dyn dynamic.ResourceInterface
}

// setup returns the shared cluster with crd installed and a new namespace.
func setup(t *testing.T, crd string) cluster {
	t.Helper()
	c := kubetest.Get(t)
	require.NoError(t, c.InstallCRD(context.Background(), crd))
	ns := c.Namespace(t)
	d, err := dynamic.NewForConfig(c.Admin())
	require.NoError(t, err)
	return cluster{Cluster: c, ns: ns, dyn: d.Resource(kubetest.InferenceServices).Namespace(ns)}
}

func (c cluster) target(t *testing.T, name string, opts kserve.Options) *kserve.Target {
	t.Helper()
	tg, err := kserve.New(c.Admin(), name, c.ns, opts)
	require.NoError(t, err)
	return tg
}

func (c cluster) get(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	o, err := c.dyn.Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return o
}

func str(t *testing.T, o *unstructured.Unstructured, path ...string) string {
	t.Helper()
	v, _, err := unstructured.NestedString(o.Object, path...)
	require.NoError(t, err)
	return v
}

var crds = []string{kubetest.FullCRD, kubetest.MinimalCRD}

// TestApply: apply creates the InferenceServices with the contract's
// fields; a second apply writes nothing; a promotion changes storageUri;
// retiring a model prunes it; an InferenceService Cairn does not manage is
// never touched — with the full and the minimal CRD.
func TestApply(t *testing.T) {
	for _, crd := range crds {
		t.Run(crd, func(t *testing.T) {
			ctx := context.Background()
			c := setup(t, crd)
			foreign := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
				"metadata": map[string]any{"name": "hand-made", "namespace": c.ns},
				"spec":     map[string]any{"predictor": map[string]any{"model": map[string]any{"modelFormat": map[string]any{"name": "sklearn"}, "storageUri": "gs://bucket/m"}}},
			}}
			_, err := c.dyn.Create(ctx, foreign, metav1.CreateOptions{FieldManager: "kubectl-create"})
			require.NoError(t, err)
			foreignRV := c.get(t, "hand-made").GetResourceVersion()

			a := artifacts{}
			fraud := a.model("fraud-detector", "2.3.0+build.7")
			fraud.Serving = targets.Serving{Format: "xgboost", Runtime: "kserve-xgbserver", ProtocolVersion: "v2",
				Requests: map[string]string{"cpu": "500m", "memory": "1Gi"}, Limits: map[string]string{"memory": "2Gi"}}
			churn := a.model("churn-predictor", "1.0.0")
			tg := c.target(t, "prod", kserve.Options{})

			cs, err := tg.Apply(ctx, "rev1", []targets.Model{fraud, churn}, targets.OpenFunc(a.open))
			require.NoError(t, err)
			assert.Equal(t, []targets.Change{
				{Model: "churn-predictor", Action: targets.Created, To: "1.0.0", Digest: churn.Artifact.Digest, Object: "kserve " + c.ns + "/churn-predictor"},
				{Model: "fraud-detector", Action: targets.Created, To: "2.3.0+build.7", Digest: fraud.Artifact.Digest, Object: "kserve " + c.ns + "/fraud-detector"},
			}, cs)

			o := c.get(t, "fraud-detector")
			assert.Equal(t, map[string]string{
				"app.kubernetes.io/managed-by": "cairn", "cairn.dev/model": "fraud-detector",
				"cairn.dev/version": "2.3.0_build.7", "cairn.dev/target": "prod",
			}, o.GetLabels())
			assert.Equal(t, map[string]string{
				"cairn.dev/version": "2.3.0+build.7", "cairn.dev/digest": fraud.Artifact.Digest, "cairn.dev/revision": "rev1",
			}, o.GetAnnotations())
			model, _, _ := unstructured.NestedMap(o.Object, "spec", "predictor", "model")
			assert.Equal(t, map[string]any{
				"modelFormat": map[string]any{"name": "xgboost"}, "runtime": "kserve-xgbserver", "protocolVersion": "v2",
				"storageUri": fraud.Artifact.URI,
				"resources":  map[string]any{"requests": map[string]any{"cpu": "500m", "memory": "1Gi"}, "limits": map[string]any{"memory": "2Gi"}},
			}, model)
			assert.Equal(t, "onnx", str(t, c.get(t, "churn-predictor"), "spec", "predictor", "model", "modelFormat", "name"))
			for _, f := range o.GetManagedFields() {
				assert.Equal(t, "cairn", f.Manager)
				assert.Equal(t, metav1.ManagedFieldsOperationApply, f.Operation)
			}

			// The same desired state again: nothing is written.
			rv := map[string]string{"fraud-detector": o.GetResourceVersion(), "churn-predictor": c.get(t, "churn-predictor").GetResourceVersion()}
			cs, err = tg.Apply(ctx, "rev2", []targets.Model{fraud, churn}, targets.OpenFunc(a.open))
			require.NoError(t, err)
			for _, ch := range cs {
				assert.Equal(t, targets.Unchanged, ch.Action, ch.Model)
				assert.Equal(t, rv[ch.Model], c.get(t, ch.Model).GetResourceVersion(), ch.Model)
			}
			assert.Equal(t, "rev1", c.get(t, "fraud-detector").GetAnnotations()["cairn.dev/revision"])

			// A promotion changes storageUri; a model no longer pinned is pruned.
			fraud3 := a.model("fraud-detector", "3.0.0")
			cs, err = tg.Apply(ctx, "rev3", []targets.Model{fraud3}, targets.OpenFunc(a.open))
			require.NoError(t, err)
			assert.Equal(t, []targets.Change{
				{Model: "churn-predictor", Action: targets.Deleted, From: "1.0.0", Object: "kserve " + c.ns + "/churn-predictor"},
				{Model: "fraud-detector", Action: targets.Updated, From: "2.3.0+build.7", To: "3.0.0", Digest: fraud3.Artifact.Digest, Object: "kserve " + c.ns + "/fraud-detector"},
			}, cs)
			o = c.get(t, "fraud-detector")
			assert.Equal(t, fraud3.Artifact.URI, str(t, o, "spec", "predictor", "model", "storageUri"))
			assert.Equal(t, "rev3", o.GetAnnotations()["cairn.dev/revision"])
			_, err = c.dyn.Get(ctx, "churn-predictor", metav1.GetOptions{})
			assert.True(t, isNotFound(err), "churn-predictor pruned: %v", err)

			// Nothing desired: every managed object goes, the foreign one stays.
			_, err = tg.Apply(ctx, "rev4", nil, targets.OpenFunc(a.open))
			require.NoError(t, err)
			l, err := c.dyn.List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			require.Len(t, l.Items, 1)
			assert.Equal(t, "hand-made", l.Items[0].GetName())
			assert.Equal(t, foreignRV, l.Items[0].GetResourceVersion())

			// A desired model with the foreign object's name is refused, not taken over.
			_, err = tg.Apply(ctx, "rev5", []targets.Model{a.model("hand-made", "1.0.0")}, targets.OpenFunc(a.open))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "kserve "+c.ns+"/hand-made exists and is not managed by cairn target prod")
			assert.Equal(t, foreignRV, c.get(t, "hand-made").GetResourceVersion())
		})
	}
}

// TestVerifiesBeforeWriting: an artifact whose bytes do not match its
// digest is not handed to the cluster; the other models still are.
func TestVerifiesBeforeWriting(t *testing.T) {
	ctx := context.Background()
	c := setup(t, kubetest.FullCRD)
	a := artifacts{}
	good, bad := a.model("good", "1.0.0"), a.model("bad", "1.0.0")
	a[bad.Artifact.URI] = []byte("tampered")
	cs, err := c.target(t, "prod", kserve.Options{}).Apply(ctx, "rev1", []targets.Model{good, bad}, targets.OpenFunc(a.open))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad: artifact "+bad.Artifact.URI+" has digest sha256:")
	assert.Equal(t, targets.Skipped, cs[0].Action, "bad")
	assert.Equal(t, targets.Created, cs[1].Action, "good")
	_, err = c.dyn.Get(ctx, "bad", metav1.GetOptions{})
	assert.True(t, isNotFound(err), "bad was not written: %v", err)
	c.get(t, "good")
}

// patch changes the object as `kubectl patch --type merge` does, as field
// manager kubectl-patch.
func (c cluster) patch(t *testing.T, name, patch string) {
	t.Helper()
	_, err := c.dyn.Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "kubectl-patch"})
	require.NoError(t, err)
}

// TestDrift: an edit by another field manager is reported with the path,
// both values, the manager, the operation and the time; a plain apply
// refuses to take the field back, naming the manager; a forced apply (a
// heal) restores it. A field another manager adds, as a defaulting webhook
// would, is not drift.
func TestDrift(t *testing.T) {
	for _, crd := range crds {
		t.Run(crd, func(t *testing.T) {
			ctx := context.Background()
			c := setup(t, crd)
			a := artifacts{}
			m := a.model("fraud-detector", "2.3.0")
			desired := []targets.Model{m}
			tg := c.target(t, "prod", kserve.Options{})
			_, err := tg.Apply(ctx, "rev1", desired, targets.OpenFunc(a.open))
			require.NoError(t, err)

			// A defaulting webhook adds a field Cairn does not set.
			c.patch(t, "fraud-detector", `{"spec":{"predictor":{"minReplicas":1}}}`)
			obs, err := tg.Observe(ctx, desired)
			require.NoError(t, err)
			require.Len(t, obs, 1)
			assert.Empty(t, obs[0].Fields, "an added field is not drift")
			cs, err := tg.Plan(ctx, desired)
			require.NoError(t, err)
			assert.Equal(t, targets.Unchanged, cs[0].Action)

			before := time.Now().UTC().Truncate(time.Second)
			c.patch(t, "fraud-detector", `{"spec":{"predictor":{"model":{"storageUri":"s3://elsewhere/model.onnx"}}}}`)
			obs, err = tg.Observe(ctx, desired)
			require.NoError(t, err)
			require.Len(t, obs, 1)
			require.Len(t, obs[0].Fields, 1, "%+v", obs[0].Fields)
			f := obs[0].Fields[0]
			assert.Equal(t, "spec.predictor.model.storageUri", f.Path)
			assert.Equal(t, `"`+m.Artifact.URI+`"`, f.Want)
			assert.Equal(t, `"s3://elsewhere/model.onnx"`, f.Got)
			assert.Equal(t, "kubectl-patch", f.Manager)
			assert.Equal(t, "Update", f.Operation)
			at, err := time.Parse(time.RFC3339, f.Time)
			require.NoError(t, err)
			assert.False(t, at.Before(before), "changed at %s, after %s", at, before)
			assert.Contains(t, f.Conflict, `conflict with "kubectl-patch"`)

			// A plain apply does not take the field back.
			_, err = tg.Apply(ctx, "rev2", desired, targets.OpenFunc(a.open))
			require.Error(t, err)
			assert.Contains(t, err.Error(), `conflict with "kubectl-patch"`)
			assert.Equal(t, "s3://elsewhere/model.onnx", str(t, c.get(t, "fraud-detector"), "spec", "predictor", "model", "storageUri"))

			// A heal does.
			cs, err = c.target(t, "prod", kserve.Options{Force: true}).Apply(ctx, "rev2", desired, targets.OpenFunc(a.open))
			require.NoError(t, err)
			assert.Equal(t, targets.Updated, cs[0].Action)
			assert.Equal(t, m.Artifact.URI, str(t, c.get(t, "fraud-detector"), "spec", "predictor", "model", "storageUri"))
			obs, err = tg.Observe(ctx, desired)
			require.NoError(t, err)
			assert.Empty(t, obs[0].Fields)
		})
	}
}

// setStatus plays the KServe controller: it writes status through the
// status subresource.
func (c cluster) setStatus(t *testing.T, name string, status map[string]any) {
	t.Helper()
	o := c.get(t, name)
	o.Object["status"] = status
	_, err := c.dyn.UpdateStatus(context.Background(), o, metav1.UpdateOptions{FieldManager: "kserve-controller"})
	require.NoError(t, err)
}

func ready(url string) map[string]any {
	return map[string]any{
		"url":        url,
		"conditions": []any{map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-01T00:00:00Z"}},
		"modelStatus": map[string]any{"transitionStatus": "UpToDate",
			"states": map[string]any{"activeModelState": "Loaded", "targetModelState": "Loaded"}},
	}
}

// TestWait: Wait returns when the controller says Ready, carries KServe's
// lastFailureInfo for a model that failed to load, and gives up when the
// context ends.
func TestWait(t *testing.T) {
	ctx := context.Background()
	c := setup(t, kubetest.FullCRD)
	a := artifacts{}
	tg := c.target(t, "prod", kserve.Options{})
	ok, broken, slow := a.model("ok", "1.0.0"), a.model("broken", "1.0.0"), a.model("slow", "1.0.0")
	_, err := tg.Apply(ctx, "rev1", []targets.Model{ok, broken, slow}, targets.OpenFunc(a.open))
	require.NoError(t, err)

	go func() {
		time.Sleep(300 * time.Millisecond)
		c.setStatus(t, "ok", ready("http://ok."+c.ns+".example.com"))
		c.setStatus(t, "broken", map[string]any{
			"conditions": []any{map[string]any{"type": "Ready", "status": "False", "reason": "ModelLoadFailed"}},
			"modelStatus": map[string]any{"transitionStatus": "BlockedByFailedLoad",
				"states":          map[string]any{"activeModelState": "", "targetModelState": "FailedToLoad"},
				"lastFailureInfo": map[string]any{"reason": "ModelLoadFailed", "message": "unsupported opset 99"}},
		})
		c.setStatus(t, "slow", map[string]any{
			"conditions":  []any{map[string]any{"type": "Ready", "status": "False", "reason": "PredictorNotReady"}},
			"modelStatus": map[string]any{"transitionStatus": "InProgress", "states": map[string]any{"activeModelState": "Pending"}},
		})
	}()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	got := tg.Wait(wctx)
	require.Len(t, got, 3)
	assert.NoError(t, got["ok"])
	require.ErrorIs(t, got["broken"], kserve.ErrNotReady)
	assert.Equal(t, "kserve "+c.ns+"/broken not ready: failed to load: ModelLoadFailed: unsupported opset 99", got["broken"].Error())
	require.ErrorIs(t, got["slow"], kserve.ErrNotReady)
	assert.Equal(t, "kserve "+c.ns+"/slow not ready in time: model Pending", got["slow"].Error())

	obs, err := tg.Observe(ctx, nil)
	require.NoError(t, err)
	byName := map[string]targets.Deployed{}
	for _, o := range obs {
		byName[o.Name] = o
	}
	assert.Equal(t, &targets.Status{Ready: true, URL: "http://ok." + c.ns + ".example.com"}, byName["ok"].Status)
	assert.Equal(t, "failed to load: ModelLoadFailed: unsupported opset 99", byName["broken"].Status.Reason)
	assert.Equal(t, "rev1", byName["ok"].Revision)
}

// TestAPIErrors: an unreachable server, a refused token, a missing CRD and
// an RBAC refusal each give one line that says what to do.
func TestAPIErrors(t *testing.T) {
	ctx := context.Background()
	c := setup(t, kubetest.FullCRD)
	a := artifacts{}
	desired := []targets.Model{a.model("m", "1.0.0")}
	tests := []struct {
		name string
		cfg  *rest.Config
		want string
	}{
		{"unreachable", &rest.Config{Host: "https://127.0.0.1:1", BearerToken: "t", TLSClientConfig: rest.TLSClientConfig{Insecure: true}},
			"list InferenceServices in namespace " + c.ns + ": cannot reach the API server at https://127.0.0.1:1: "},
		{"bad token", c.Config("not-a-token"),
			"list InferenceServices in namespace " + c.ns + ": the API server refused the credentials (401 Unauthorized): check --kubeconfig or KUBECONFIG"},
		{"rbac", c.Config(kubetest.NobodyToken),
			"list InferenceServices in namespace " + c.ns + `: forbidden by RBAC: inferenceservices.serving.kserve.io is forbidden: User "nobody" cannot list resource "inferenceservices" in API group "serving.kserve.io" in the namespace "` + c.ns + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := kserve.New(tt.cfg, "prod", c.ns, kserve.Options{})
			require.NoError(t, err)
			_, err = tg.Apply(ctx, "rev1", desired, targets.OpenFunc(a.open))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "not-a-token")
			assert.NotContains(t, err.Error(), "\n")
		})
	}
	t.Run("no namespace", func(t *testing.T) {
		tg, err := kserve.New(c.Admin(), "prod", "no-such-namespace", kserve.Options{})
		require.NoError(t, err)
		_, err = tg.Apply(ctx, "rev1", desired, targets.OpenFunc(a.open))
		require.Error(t, err)
		assert.Equal(t, "apply kserve no-such-namespace/m: namespace no-such-namespace does not exist: create it, or fix the target's namespace setting", err.Error())
	})
	t.Run("no CRD", func(t *testing.T) {
		require.NoError(t, c.DeleteCRD(ctx))
		t.Cleanup(func() { require.NoError(t, c.InstallCRD(ctx, kubetest.FullCRD)) })
		_, err := c.target(t, "prod", kserve.Options{}).Apply(ctx, "rev1", desired, targets.OpenFunc(a.open))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the API server does not serve serving.kserve.io/v1beta1: install KServe's InferenceService CRD")
		assert.NotContains(t, err.Error(), "\n")
	})
}

// TestRefusesFileArtifacts: a kserve target never renders an artifact the
// cluster cannot fetch.
func TestRefusesFileArtifacts(t *testing.T) {
	c := setup(t, kubetest.FullCRD)
	m := targets.Model{Name: "m", Version: "1.0.0", Artifact: targets.Artifact{URI: "file://artifacts/m.onnx", Digest: "sha256:" + strings.Repeat("a", 64)},
		Serving: targets.Serving{Format: "onnx"}}
	_, err := c.target(t, "prod", kserve.Options{}).Apply(context.Background(), "rev1", []targets.Model{m}, nil)
	require.ErrorIs(t, err, kserve.ErrInvalid)
	assert.Contains(t, err.Error(), "a kserve target serves https:// or oci://")
	l, err := c.dyn.List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, l.Items)
}

func isNotFound(err error) bool {
	return err != nil && strings.Contains(err.Error(), "not found")
}

// TestOCIPin: an oci://…@sha256:… pin passes through as storageUri, with
// its digest, after the manifest and every layer verified; a layer that
// does not match its digest writes nothing.
func TestOCIPin(t *testing.T) {
	ctx := context.Background()
	c := setup(t, kubetest.FullCRD)
	reg := registrytest.InProcess(t, nil)
	d := reg.Push(t, "models/fraud", "v1",
		registrytest.Layer{Title: "model.onnx", Data: []byte("weights")},
		registrytest.Layer{Title: "README.md", MediaType: registrytest.ModelKitDocs, Data: []byte("docs")})
	uri := "oci://" + reg.Host + "/models/fraud:v1@" + d
	m := targets.Model{Name: "fraud-detector", Version: "1.0.0", Artifact: targets.Artifact{URI: uri, Digest: d},
		Serving: targets.Serving{Format: "onnx"}}
	open := artifact.NewOpener(&inventory.Source{Dir: t.TempDir()}, reg.Client).Target()
	tg := c.target(t, "prod", kserve.Options{})
	_, err := tg.Apply(ctx, "rev1", []targets.Model{m}, open)
	require.NoError(t, err)
	assert.Equal(t, uri, str(t, c.get(t, "fraud-detector"), "spec", "predictor", "model", "storageUri"))
	assert.Equal(t, d, c.get(t, "fraud-detector").GetAnnotations()["cairn.dev/digest"])

	// A pin whose digest names another manifest is refused before any write.
	other := m
	other.Name = "other"
	other.Artifact.Digest = "sha256:" + strings.Repeat("0", 64)
	other.Artifact.URI = "oci://" + reg.Host + "/models/fraud@" + other.Artifact.Digest
	_, err = tg.Apply(ctx, "rev2", []targets.Model{m, other}, open)
	require.Error(t, err)
	_, err = c.dyn.Get(ctx, "other", metav1.GetOptions{})
	assert.True(t, isNotFound(err), "other was not written: %v", err)
}

// readmeRole returns the Role of the README's kserve section, the one the
// daemon needs, for namespace ns.
func readmeRole(t *testing.T, ns string) *rbacv1.Role {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	s := string(b)
	i := strings.Index(s, "```yaml\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n")
	require.GreaterOrEqual(t, i, 0, "the README shows the Role")
	s = s[i+len("```yaml\n"):]
	s = s[:strings.Index(s, "```")]
	var role rbacv1.Role
	require.NoError(t, yaml.UnmarshalStrict([]byte(s), &role))
	role.Namespace = ns
	return &role
}

// TestREADMERole: a service account bound by the README's Role applies,
// observes, waits and prunes, and may do nothing else: not read secrets,
// not touch InferenceServices of another namespace.
func TestREADMERole(t *testing.T) {
	ctx := context.Background()
	c := setup(t, kubetest.FullCRD)
	other := c.Namespace(t)
	cs, err := kubernetes.NewForConfig(c.Admin())
	require.NoError(t, err)
	_, err = cs.CoreV1().ServiceAccounts(c.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "cairn"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	role, err := cs.RbacV1().Roles(c.ns).Create(ctx, readmeRole(t, c.ns), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().RoleBindings(c.ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "cairn", Namespace: c.ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "cairn", Namespace: c.ns}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	tok, err := cs.CoreV1().ServiceAccounts(c.ns).CreateToken(ctx, "cairn", &authv1.TokenRequest{}, metav1.CreateOptions{})
	require.NoError(t, err)
	sa := c.Config(tok.Status.Token)

	a := artifacts{}
	m1, m2 := a.model("one", "1.0.0"), a.model("two", "1.0.0")
	tg, err := kserve.New(sa, "prod", c.ns, kserve.Options{})
	require.NoError(t, err)
	_, err = tg.Apply(ctx, "rev1", []targets.Model{m1, m2}, targets.OpenFunc(a.open))
	require.NoError(t, err, "create")
	c.patch(t, "one", `{"spec":{"predictor":{"model":{"runtime":"x"}}}}`)
	obs, err := tg.Observe(ctx, []targets.Model{m1})
	require.NoError(t, err, "observe")
	require.NotEmpty(t, obs)
	healer, err := kserve.New(sa, "prod", c.ns, kserve.Options{Force: true})
	require.NoError(t, err)
	_, err = healer.Apply(ctx, "rev2", []targets.Model{m1}, targets.OpenFunc(a.open))
	require.NoError(t, err, "heal and prune")
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	assert.NotContains(t, fmt.Sprint(healer.Wait(wctx)), "forbidden", "wait reads the objects")

	scs, err := kubernetes.NewForConfig(sa)
	require.NoError(t, err)
	_, err = scs.CoreV1().Secrets(c.ns).List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "secrets: %v", err)
	elsewhere, err := kserve.New(sa, "prod", other, kserve.Options{})
	require.NoError(t, err)
	_, err = elsewhere.Plan(ctx, []targets.Model{m1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "forbidden by RBAC")
}
