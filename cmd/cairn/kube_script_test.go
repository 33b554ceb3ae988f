package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/cairnops/cairn/internal/kubetest"
)

// kubeNamespace is the namespace kube-start creates for the scripts.
const kubeNamespace = "models"

var (
	scriptClustersMu sync.Mutex
	scriptClusters   = map[*testscript.TestScript]*kubetest.Cluster{}
)

// cmdKubeStart is the script command
//
//	kube-start [minimal]
//
// It starts a real etcd and kube-apiserver (internal/kubetest) for the
// script, installs KServe's full CRD (or the minimal one), creates the
// namespace "models" and writes two kubeconfigs outside $WORK, as an
// operator's are: $KUBE_CONFIG (the admin) and $KUBE_NOBODY (a user RBAC
// grants nothing). It sets KUBE_URL too. The cluster stops when the script ends; the script is skipped
// when the binaries are absent (hack/kube-binaries.sh builds them).
func cmdKubeStart(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "kube-start")
	crd := kubetest.FullCRD
	if len(args) == 1 && args[0] == "minimal" {
		crd = kubetest.MinimalCRD
	} else if len(args) != 0 {
		ts.Fatalf("usage: kube-start [minimal]")
	}
	tb := scriptTB(ts)
	if dir, ok := kubetest.BinDir(); !ok {
		tb.Skipf("kube-start: kube-apiserver and etcd not found in %s: run hack/kube-binaries.sh to build them (CI does)", dir)
	}
	dir, err := os.MkdirTemp("", "cairn-kube-")
	ts.Check(err)
	ctx := context.Background()
	c, err := kubetest.Start(ctx, dir)
	if err != nil {
		os.RemoveAll(dir)
		ts.Fatalf("kube-start: %v", err)
	}
	scriptClustersMu.Lock()
	scriptClusters[ts] = c
	scriptClustersMu.Unlock()
	ts.Defer(func() {
		scriptClustersMu.Lock()
		delete(scriptClusters, ts)
		scriptClustersMu.Unlock()
		c.Stop()
		os.RemoveAll(dir)
	})
	ts.Check(c.InstallCRD(ctx, crd))
	cs, err := kubernetes.NewForConfig(c.Admin())
	ts.Check(err)
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kubeNamespace}}, metav1.CreateOptions{})
	ts.Check(err)
	admin, err := c.WriteKubeconfig(filepath.Join(dir, "config"), kubetest.AdminToken)
	ts.Check(err)
	nobody, err := c.WriteKubeconfig(filepath.Join(dir, "nobody"), kubetest.NobodyToken)
	ts.Check(err)
	ts.Setenv("KUBE_URL", c.URL)
	ts.Setenv("KUBE_CONFIG", admin)
	ts.Setenv("KUBE_NOBODY", nobody)
}

func scriptISVCs(ts *testscript.TestScript) dynamic.ResourceInterface {
	scriptClustersMu.Lock()
	c, ok := scriptClusters[ts]
	scriptClustersMu.Unlock()
	if !ok {
		ts.Fatalf("no cluster: run kube-start first")
	}
	d, err := dynamic.NewForConfig(c.Admin())
	ts.Check(err)
	return d.Resource(kubetest.InferenceServices).Namespace(kubeNamespace)
}

// cmdKubePatch is the script command
//
//	kube-patch NAME JSON
//
// It merge-patches the InferenceService NAME of namespace models as
// `kubectl patch --type merge` does, as field manager kubectl-patch.
func cmdKubePatch(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "kube-patch")
	if len(args) != 2 {
		ts.Fatalf("usage: kube-patch NAME JSON")
	}
	_, err := scriptISVCs(ts).Patch(context.Background(), args[0], types.MergePatchType, []byte(args[1]), metav1.PatchOptions{FieldManager: "kubectl-patch"})
	ts.Check(err)
}

// cmdKubeStatus is the script command
//
//	kube-status [-next] NAME ready|failed|pending
//
// It plays the KServe controller: it writes the status of the
// InferenceService NAME through the status subresource. With -next it
// does so in the background, once the object is next written (created, or
// its resourceVersion moves), as a controller reacts to an apply: for
// apply --wait.
func cmdKubeStatus(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "kube-status")
	next := len(args) > 0 && args[0] == "-next"
	if next {
		args = args[1:]
	}
	if len(args) != 2 {
		ts.Fatalf("usage: kube-status [-next] NAME ready|failed|pending")
	}
	name := args[0]
	var status map[string]any
	switch args[1] {
	case "ready":
		status = map[string]any{
			"url":        "http://" + name + "." + kubeNamespace + ".example.com",
			"conditions": []any{map[string]any{"type": "Ready", "status": "True"}},
			"modelStatus": map[string]any{"transitionStatus": "UpToDate",
				"states": map[string]any{"activeModelState": "Loaded", "targetModelState": "Loaded"}},
		}
	case "failed":
		status = map[string]any{
			"conditions": []any{map[string]any{"type": "Ready", "status": "False", "reason": "ModelLoadFailed"}},
			"modelStatus": map[string]any{"transitionStatus": "BlockedByFailedLoad",
				"states":          map[string]any{"targetModelState": "FailedToLoad"},
				"lastFailureInfo": map[string]any{"reason": "ModelLoadFailed", "message": "unsupported opset 99"}},
		}
	case "pending":
		status = map[string]any{
			"conditions":  []any{map[string]any{"type": "Ready", "status": "False", "reason": "PredictorNotReady"}},
			"modelStatus": map[string]any{"transitionStatus": "InProgress", "states": map[string]any{"activeModelState": "Pending"}},
		}
	default:
		ts.Fatalf("kube-status: want ready, failed or pending, not %q", args[1])
	}
	isvcs := scriptISVCs(ts)
	ctx := context.Background()
	write := func(o *unstructured.Unstructured) error {
		o.Object["status"] = status
		_, err := isvcs.UpdateStatus(ctx, o, metav1.UpdateOptions{FieldManager: "kserve-controller"})
		return err
	}
	if !next {
		o, err := isvcs.Get(ctx, name, metav1.GetOptions{})
		ts.Check(err)
		ts.Check(write(o))
		return
	}
	before := ""
	if o, err := isvcs.Get(ctx, name, metav1.GetOptions{}); err == nil {
		before = o.GetResourceVersion()
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			if o, err := isvcs.Get(ctx, name, metav1.GetOptions{}); err == nil && o.GetResourceVersion() != before {
				done <- write(o)
				return
			}
			select {
			case <-stop:
				done <- nil
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	ts.Defer(func() {
		close(stop)
		if err := <-done; err != nil {
			ts.Logf("kube-status %s: %v", name, err)
		}
	})
}

// cmdKubeGet is the script command
//
//	kube-get NAME [FIELD.PATH]
//
// It prints the InferenceService NAME of namespace models as JSON, or the
// value at FIELD.PATH (dot-separated). `! kube-get NAME` succeeds when it
// does not exist.
func cmdKubeGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: kube-get NAME [FIELD.PATH]")
	}
	o, err := scriptISVCs(ts).Get(context.Background(), args[0], metav1.GetOptions{})
	if neg {
		if err == nil {
			ts.Fatalf("kube-get: %s exists", args[0])
		}
		return
	}
	ts.Check(err)
	var v any = o.Object
	if len(args) == 2 {
		var found bool
		v, found, err = unstructured.NestedFieldNoCopy(o.Object, strings.Split(args[1], ".")...)
		ts.Check(err)
		if !found {
			ts.Fatalf("kube-get: %s has no %s", args[0], args[1])
		}
	}
	b, err := json.Marshal(v)
	ts.Check(err)
	fmt.Fprintln(ts.Stdout(), string(b))
}

// cmdArtifactServe is the script command
//
//	artifact-serve DIR
//
// It serves the files of DIR over HTTPS on 127.0.0.1, sets ARTIFACTS_URL to
// its base URL and SSL_CERT_FILE to its certificate, so that cairn trusts
// it. It stops when the script ends.
func cmdArtifactServe(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "artifact-serve")
	if len(args) != 1 {
		ts.Fatalf("usage: artifact-serve DIR")
	}
	s := httptest.NewTLSServer(http.FileServer(http.Dir(ts.MkAbs(args[0]))))
	ts.Defer(s.Close)
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	path := filepath.Join(ts.MkAbs("."), "artifacts-ca.pem")
	ts.Check(os.WriteFile(path, cert, 0o644))
	ts.Setenv("ARTIFACTS_URL", s.URL)
	ts.Setenv("SSL_CERT_FILE", path)
}
