// Package deploy holds the tests of Cairn's deployment manifests: they are
// applied to a real API server, whose built-in types validate every field.
package deploy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/cairnops/cairn/internal/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// kustomization is the part of kustomization.yaml that render understands;
// any other field fails the test, so that render never skips one.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
	Images []struct {
		Name   string `json:"name"`
		NewTag string `json:"newTag"`
	} `json:"images"`
}

// render does what `kubectl apply -k` does with kubernetes/: the
// resources in order, with the kustomization's namespace, labels and
// image tags. There is no kubectl here.
func render(t *testing.T, mapper meta.RESTMapper) (*kustomization, []*unstructured.Unstructured) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("kubernetes", "kustomization.yaml"))
	require.NoError(t, err)
	var k kustomization
	require.NoError(t, yaml.UnmarshalStrict(data, &k), "kustomization.yaml has a field this test does not render")
	var out []*unstructured.Unstructured
	for _, res := range k.Resources {
		f, err := os.Open(filepath.Join("kubernetes", res))
		require.NoError(t, err)
		dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else {
				require.NoError(t, err, res)
			}
			if len(u.Object) == 0 {
				continue
			}
			m, err := mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
			require.NoError(t, err, "%s: %s", res, u.GroupVersionKind())
			if m.Scope.Name() == meta.RESTScopeNameNamespace {
				u.SetNamespace(k.Namespace)
			}
			labels := u.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			for _, l := range k.Labels {
				for key, v := range l.Pairs {
					labels[key] = v
				}
			}
			u.SetLabels(labels)
			for _, img := range k.Images {
				setImage(u, img.Name, img.NewTag)
			}
			out = append(out, u)
		}
		f.Close()
	}
	return &k, out
}

// setImage tags every container image named name in a Deployment.
func setImage(u *unstructured.Unstructured, name, tag string) {
	cs, ok, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	if !ok {
		return
	}
	for i, c := range cs {
		cm := c.(map[string]any)
		if cm["image"] == name {
			cm["image"] = name + ":" + tag
		}
		cs[i] = cm
	}
	_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
}

// TestManifests is acceptance 3 of issue 18: every object of
// deploy/kubernetes applies cleanly by server-side apply with strict field
// validation, and the ServiceAccount's real token can do what the daemon
// needs and nothing else.
func TestManifests(t *testing.T) {
	c := kubetest.Get(t)
	ctx := context.Background()
	require.NoError(t, c.InstallCRD(ctx, kubetest.FullCRD))
	admin := c.Admin()
	dc, err := discovery.NewDiscoveryClientForConfig(admin)
	require.NoError(t, err)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(admin)
	require.NoError(t, err)

	k, objs := render(t, mapper)
	kinds := map[string]bool{}
	for _, u := range objs {
		kinds[u.GetKind()] = true
		m, err := mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
		require.NoError(t, err)
		data, err := u.MarshalJSON()
		require.NoError(t, err)
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if u.GetNamespace() != "" {
			ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		_, err = ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: "cairn-deploy-test", FieldValidation: "Strict"})
		require.NoError(t, err, "server-side apply of %s %s", u.GetKind(), u.GetName())
	}
	for _, kind := range []string{"Namespace", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"} {
		assert.True(t, kinds[kind], "deploy/kubernetes has no %s", kind)
	}

	cs, err := kubernetes.NewForConfig(admin)
	require.NoError(t, err)
	dep, err := cs.AppsV1().Deployments(k.Namespace).Get(ctx, "cairn", metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 2, *dep.Spec.Replicas)
	pod := dep.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	ctr := pod.Containers[0]
	assert.True(t, *pod.SecurityContext.RunAsNonRoot, "runs as non-root")
	assert.True(t, *ctr.SecurityContext.ReadOnlyRootFilesystem, "read-only root filesystem")
	assert.Equal(t, "/healthz", ctr.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/readyz", ctr.ReadinessProbe.HTTPGet.Path)
	assert.False(t, ctr.Resources.Requests.Cpu().IsZero(), "cpu request")
	assert.False(t, ctr.Resources.Requests.Memory().IsZero(), "memory request")
	assert.Contains(t, ctr.Args, "--leader-elect")
	assert.Equal(t, "ghcr.io/cairnops/cairn:latest", ctr.Image)
	secrets := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			secrets[v.Secret.SecretName] = true
		}
		if v.Name == "state" {
			assert.NotNil(t, v.EmptyDir, "the state directory is an emptyDir")
		}
	}
	assert.True(t, secrets["cairn-webhook"], "the webhook secret comes from a Secret")
	var token *corev1.EnvVar
	for i, e := range ctr.Env {
		if e.Name == "GITHUB_TOKEN" {
			token = &ctr.Env[i]
		}
	}
	require.NotNil(t, token, "GITHUB_TOKEN")
	require.NotNil(t, token.ValueFrom.SecretKeyRef, "the GitHub token comes from a Secret")
	svc, err := cs.CoreV1().Services(k.Namespace).Get(ctx, "cairn", metav1.GetOptions{})
	require.NoError(t, err)
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, p.Name)
	}
	assert.ElementsMatch(t, []string{"webhook", "metrics"}, ports)

	t.Run("rbac", func(t *testing.T) { testRBAC(t, c, k.Namespace) })
}

// testRBAC checks the Role with a real token of the ServiceAccount.
func testRBAC(t *testing.T, c *kubetest.Cluster, ns string) {
	ctx := context.Background()
	admin, err := kubernetes.NewForConfig(c.Admin())
	require.NoError(t, err)
	other := c.Namespace(t)
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "cairn", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(600))}}, metav1.CreateOptions{})
	require.NoError(t, err)
	cfg := c.Config(tr.Status.Token)
	sa, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)

	// What the daemon does: the lease of leader election...
	lease, err := sa.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "cairn"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("cairn-0")}}, metav1.CreateOptions{})
	require.NoError(t, err, "create the lease")
	lease, err = sa.CoordinationV1().Leases(ns).Get(ctx, "cairn", metav1.GetOptions{})
	require.NoError(t, err, "get the lease")
	lease.Spec.HolderIdentity = ptr("cairn-1")
	_, err = sa.CoordinationV1().Leases(ns).Update(ctx, lease, metav1.UpdateOptions{})
	require.NoError(t, err, "update the lease")

	// ...InferenceServices by server-side apply, read, watched, deleted...
	isvcs := dyn.Resource(kubetest.InferenceServices)
	isvc := []byte(`{"apiVersion":"serving.kserve.io/v1beta1","kind":"InferenceService","metadata":{"name":"fraud-detector"},
		"spec":{"predictor":{"model":{"modelFormat":{"name":"sklearn"},"storageUri":"https://models.example/fraud-detector/2.3.0/model.joblib"}}}}`)
	_, err = isvcs.Namespace(ns).Patch(ctx, "fraud-detector", types.ApplyPatchType, isvc, metav1.PatchOptions{FieldManager: "cairn"})
	require.NoError(t, err, "server-side apply an InferenceService")
	_, err = isvcs.Namespace(ns).Get(ctx, "fraud-detector", metav1.GetOptions{})
	require.NoError(t, err, "get an InferenceService")
	_, err = isvcs.Namespace(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err, "list InferenceServices")
	w, err := isvcs.Namespace(ns).Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err, "watch InferenceServices")
	w.Stop()

	// ...and Events on them.
	ev, err := sa.EventsV1().Events(ns).Create(ctx, &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "fraud-detector.cairn"},
		EventTime: metav1.NowMicro(), ReportingController: "cairn.dev/daemon", ReportingInstance: "cairn-0",
		Action: "updated", Reason: "Applied", Type: corev1.EventTypeNormal, Note: "cairn updated fraud-detector to 2.3.0",
		Regarding: corev1.ObjectReference{APIVersion: "serving.kserve.io/v1beta1", Kind: "InferenceService", Namespace: ns, Name: "fraud-detector"}},
		metav1.CreateOptions{})
	require.NoError(t, err, "create an event")
	// A repeat is a series, which the event broadcaster patches in.
	series := `{"series":{"count":2,"lastObservedTime":"` + metav1.NowMicro().UTC().Format("2006-01-02T15:04:05.000000Z07:00") + `"}}`
	_, err = sa.EventsV1().Events(ns).Patch(ctx, ev.Name, types.MergePatchType, []byte(series), metav1.PatchOptions{})
	require.NoError(t, err, "patch an event")
	require.NoError(t, isvcs.Namespace(ns).Delete(ctx, "fraud-detector", metav1.DeleteOptions{}), "delete an InferenceService")

	// Everything else is refused.
	refused := map[string]error{}
	_, refused["list secrets in its namespace"] = sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	_, refused["get a secret in another namespace"] = sa.CoreV1().Secrets(other).Get(ctx, "any", metav1.GetOptions{})
	_, refused["list InferenceServices in another namespace"] = isvcs.Namespace(other).List(ctx, metav1.ListOptions{})
	_, refused["apply an InferenceService in another namespace"] = isvcs.Namespace(other).Patch(ctx, "fraud-detector", types.ApplyPatchType, isvc, metav1.PatchOptions{FieldManager: "cairn"})
	_, refused["get another lease"] = sa.CoordinationV1().Leases(ns).Get(ctx, "kube-scheduler", metav1.GetOptions{})
	_, refused["create a lease in another namespace"] = sa.CoordinationV1().Leases(other).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "cairn"}}, metav1.CreateOptions{})
	_, refused["list events"] = sa.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	_, refused["list pods"] = sa.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	_, refused["list config maps"] = sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	_, refused["update its Deployment"] = sa.AppsV1().Deployments(ns).Patch(ctx, "cairn", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{})
	_, refused["update its Role"] = sa.RbacV1().Roles(ns).Patch(ctx, "cairn", types.MergePatchType, []byte(`{"rules":[]}`), metav1.PatchOptions{})
	_, refused["list namespaces"] = sa.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	for what, err := range refused {
		assert.True(t, apierrors.IsForbidden(err), "%s: want forbidden, got %v", what, err)
	}

	// And the rules the API server reports for the token are the Role's,
	// beside what every ServiceAccount of the namespace may do.
	_, err = admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "baseline"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	baseline := rules(t, c, admin, ns, "baseline")
	var got []string
	for _, r := range rules(t, c, admin, ns, "cairn") {
		if !slices.Contains(baseline, r) {
			got = append(got, r)
		}
	}
	assert.Equal(t, []string{
		"coordination.k8s.io leases [] create",
		"coordination.k8s.io leases [cairn] get,update",
		"events.k8s.io events [] create,patch",
		"serving.kserve.io inferenceservices [] create,delete,get,list,patch,watch",
	}, got)
}

// rules returns the resource rules the API server reports, in ns, for a
// token of the ServiceAccount name, sorted.
func rules(t *testing.T, c *kubetest.Cluster, admin kubernetes.Interface, ns, name string) []string {
	t.Helper()
	ctx := context.Background()
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(600))}}, metav1.CreateOptions{})
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(c.Config(tr.Status.Token))
	require.NoError(t, err)
	rev, err := cs.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	var out []string
	for _, r := range rev.Status.ResourceRules {
		out = append(out, rule(r))
	}
	sort.Strings(out)
	return out
}

func rule(r authorizationv1.ResourceRule) string {
	verbs := slices.Clone(r.Verbs)
	sort.Strings(verbs)
	var b bytes.Buffer
	b.WriteString(strings.Join(r.APIGroups, ",") + " " + strings.Join(r.Resources, ",") + " [" + strings.Join(r.ResourceNames, ",") + "] " + strings.Join(verbs, ","))
	return b.String()
}

func ptr[T any](v T) *T { return &v }
