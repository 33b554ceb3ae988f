// Package kubetest starts a real etcd and kube-apiserver on 127.0.0.1 for
// the tests of the kserve target and of leader election, with static token
// authentication and RBAC, and installs KServe's InferenceService CRD.
//
// The binaries are built from the Go module proxy by hack/kube-binaries.sh
// and found through CAIRN_KUBE_BIN or the cache folder that script writes;
// a test that needs them skips with a message naming the script when they
// are absent. Every process is stopped by its PID, and the next start waits
// for the previous apiserver to exit.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// Versions of the binaries hack/kube-binaries.sh builds.
const (
	KubernetesVersion = "1.37.2"
	EtcdVersion       = "3.7.3"
)

// Tokens of the static users every cluster has.
const (
	// AdminToken authenticates "admin", in system:masters.
	AdminToken = "cairn-test-admin"
	// NobodyToken authenticates "nobody", who no RBAC rule grants anything.
	NobodyToken = "cairn-test-nobody"
)

// CRD files of KServe v0.20.0, as `Cluster.InstallCRD` takes them.
const (
	FullCRD    = "inferenceservices.full.yaml"
	MinimalCRD = "inferenceservices.minimal.yaml"
)

// BinDir returns the folder of kube-apiserver and etcd: CAIRN_KUBE_BIN, or
// the cache folder hack/kube-binaries.sh builds into. ok is false when the
// binaries are not there.
func BinDir() (dir string, ok bool) {
	dir = os.Getenv("CAIRN_KUBE_BIN")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", false
		}
		dir = filepath.Join(cache, "cairn", "kube", "k8s-v"+KubernetesVersion+"-etcd-v"+EtcdVersion)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			return dir, false
		}
	}
	return dir, true
}

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	// URL is the apiserver's https URL on 127.0.0.1.
	URL string
	// CAData is the PEM of the apiserver's self-signed serving certificate.
	CAData []byte
	// Dir holds the cluster's files: etcd's data, certificates, tokens.
	Dir string

	etcd, apiserver *exec.Cmd
	logs            *bytes.Buffer
}

// Config returns a client configuration that authenticates with token.
func (c *Cluster) Config(token string) *rest.Config {
	return &rest.Config{
		Host:            c.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData},
		QPS:             -1, // no client-side rate limit: tests count calls, not wait on them
	}
}

// Admin returns a client configuration of the admin user.
func (c *Cluster) Admin() *rest.Config { return c.Config(AdminToken) }

// WriteKubeconfig writes a kubeconfig whose current context "test"
// authenticates with token, and returns its path.
func (c *Cluster) WriteKubeconfig(path, token string) (string, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: c.URL, CertificateAuthorityData: c.CAData}
	cfg.AuthInfos["test"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	cfg.CurrentContext = "test"
	return path, clientcmd.WriteToFile(*cfg, path)
}

// startMu serialises Start: a start waits for the one before it.
var startMu sync.Mutex

// Start starts etcd and the apiserver under dir and waits until the
// apiserver is ready. Call Stop when done.
func Start(ctx context.Context, dir string) (_ *Cluster, err error) {
	bin, ok := BinDir()
	if !ok {
		return nil, fmt.Errorf("kube-apiserver and etcd not found in %s: run hack/kube-binaries.sh", bin)
	}
	startMu.Lock()
	defer startMu.Unlock()
	c := &Cluster{Dir: dir, logs: &bytes.Buffer{}}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, tail(c.logs.String(), 40))
			c.Stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	c.etcd = exec.Command(filepath.Join(bin, "etcd"),
		"--name=test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=test="+peerURL, "--unsafe-no-fsync", "--log-level=error")
	c.etcd.Stdout, c.etcd.Stderr = c.logs, c.logs
	if err := c.etcd.Start(); err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}

	if err := writeFiles(dir); err != nil {
		return nil, err
	}
	c.URL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	certDir := filepath.Join(dir, "certs")
	c.apiserver = exec.Command(filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]),
		// v1.37 with --advertise-address=127.0.0.1 needs no endpoint reconciler.
		"--endpoint-reconciler-type=none",
		"--cert-dir="+certDir,
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--api-audiences=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--v=0")
	c.apiserver.Stdout, c.apiserver.Stderr = c.logs, c.logs
	if err := c.apiserver.Start(); err != nil {
		return nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	if err := c.waitReady(ctx, certDir); err != nil {
		return nil, err
	}
	return c, nil
}

// waitReady waits for the serving certificate and for /readyz to answer ok.
func (c *Cluster) waitReady(ctx context.Context, certDir string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	last := errors.New("no answer")
	for {
		if c.apiserver.ProcessState != nil {
			return errors.New("kube-apiserver exited")
		}
		if c.CAData == nil {
			if b, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt")); err == nil {
				c.CAData = b
			}
		}
		if c.CAData != nil {
			cs, err := kubernetes.NewForConfig(c.Admin())
			if err == nil {
				var body []byte
				body, err = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
				if err == nil && string(body) == "ok" {
					return nil
				}
			}
			if err != nil {
				last = err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver at %s not ready: %w (last: %v)", c.URL, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Stop kills the apiserver and etcd and waits for both to exit.
func (c *Cluster) Stop() {
	for _, cmd := range []*exec.Cmd{c.apiserver, c.etcd} {
		if cmd == nil || cmd.Process == nil || cmd.ProcessState != nil {
			continue
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

// Logs returns what etcd and the apiserver printed.
func (c *Cluster) Logs() string { return c.logs.String() }

// writeFiles writes the static tokens and the service account key pair.
func writeFiles(dir string) error {
	tokens := AdminToken + ",admin,admin,system:masters\n" + NobodyToken + ",nobody,nobody\n"
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// CRDPath returns the path of one of KServe's CRD files (FullCRD, MinimalCRD).
func CRDPath(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "kserve-v0.20.0", name)
}

var crdGVR = kschema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InferenceServices is the resource of KServe's InferenceService.
var InferenceServices = kschema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}

// InstallCRD installs or replaces KServe's InferenceService CRD from the
// file name (FullCRD, MinimalCRD) by server-side apply, as a client-side
// apply's annotation would be too long, and waits until InferenceServices
// are served.
func (c *Cluster) InstallCRD(ctx context.Context, name string) error {
	b, err := os.ReadFile(CRDPath(name))
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := yaml.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	dyn, err := dynamic.NewForConfig(c.Admin())
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: obj}
	if _, err := dyn.Resource(crdGVR).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "kubetest", Force: true}); err != nil {
		return fmt.Errorf("install %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		got, err := dyn.Resource(crdGVR).Get(ctx, u.GetName(), metav1.GetOptions{})
		if err == nil && established(got) {
			if _, err := dyn.Resource(InferenceServices).Namespace("default").List(ctx, metav1.ListOptions{Limit: 1}); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w", u.GetName(), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// DeleteCRD deletes the InferenceService CRD and waits until it is gone.
func (c *Cluster) DeleteCRD(ctx context.Context) error {
	dyn, err := dynamic.NewForConfig(c.Admin())
	if err != nil {
		return err
	}
	name := "inferenceservices.serving.kserve.io"
	if err := dyn.Resource(crdGVR).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		// Gone, and no longer served: the resource handler lags the CRD.
		if _, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			if _, err := dyn.Resource(InferenceServices).Namespace("default").List(ctx, metav1.ListOptions{}); apierrors.IsNotFound(err) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not deleted: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func established(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// Namespace creates a namespace with a unique name derived from t's name
// and returns it.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Admin())
	if err != nil {
		t.Fatal(err)
	}
	name := dnsName(t.Name())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

var nsSeq struct {
	sync.Mutex
	n int
}

// dnsName turns a test name into a unique DNS label.
func dnsName(s string) string {
	nsSeq.Lock()
	nsSeq.n++
	n := nsSeq.n
	nsSeq.Unlock()
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	suffix := "-" + strconv.Itoa(n)
	if len(name) > 63-len(suffix) {
		name = strings.TrimRight(name[:63-len(suffix)], "-")
	}
	return name + suffix
}

var shared struct {
	once sync.Once
	c    *Cluster
	dir  string
	err  error
}

// Get returns the test binary's shared cluster, starting it on first use;
// it skips t when the binaries are absent. Call it from tests of a package
// whose TestMain calls Main, which stops the cluster.
func Get(t testing.TB) *Cluster {
	t.Helper()
	if dir, ok := BinDir(); !ok {
		t.Skipf("kube-apiserver and etcd not found in %s: run hack/kube-binaries.sh to build them (CI does)", dir)
	}
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "cairn-kubetest-")
		if shared.err != nil {
			return
		}
		shared.c, shared.err = Start(context.Background(), shared.dir)
	})
	if shared.err != nil {
		t.Fatalf("start the test cluster: %v", shared.err)
	}
	return shared.c
}

// Main runs the tests and stops the shared cluster.
func Main(m *testing.M) {
	code := m.Run()
	if shared.c != nil {
		shared.c.Stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}
