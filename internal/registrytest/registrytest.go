// Package registrytest runs real OCI registries for tests, on 127.0.0.1
// over TLS: go-containerregistry's in-process registry (with the OCI 1.1
// referrers API) and Debian's docker-registry (distribution 2.8, without
// it, so that clients fall back to the sha256-<digest> referrers tag),
// started with a configuration written here and stopped by PID. It also
// pushes ModelKit-shaped artifacts: a config and titled layers.
package registrytest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// ModelKit media types, as KitOps writes them.
const (
	ModelKitConfig = "application/vnd.kitops.modelkit.config.v1+json"
	ModelKitModel  = "application/vnd.kitops.modelkit.model.v1.tar"
	ModelKitDocs   = "application/vnd.kitops.modelkit.docs.v1.tar"
)

// Registry is a running registry.
type Registry struct {
	// Host is 127.0.0.1:PORT.
	Host string
	// Client trusts the registry's certificate.
	Client *http.Client
	// CertFile holds the registry's certificate in PEM, for SSL_CERT_FILE.
	CertFile string
	// Storage is docker-registry's storage root; empty in-process.
	Storage string
	// User and Password are the credentials of a registry started with
	// auth; empty otherwise.
	User, Password string
	// Referrers reports whether the registry has the referrers API.
	Referrers bool
}

// InProcess starts go-containerregistry's registry with referrers support
// behind an httptest TLS server; wrap, when not nil, wraps its handler (to
// fail requests). It stops at t.Cleanup.
func InProcess(t testing.TB, wrap func(http.Handler) http.Handler) *Registry {
	t.Helper()
	var h http.Handler = registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	cert := filepath.Join(t.TempDir(), "registry.pem")
	writePEM(t, cert, "CERTIFICATE", srv.Certificate().Raw)
	return &Registry{Host: srv.Listener.Addr().String(), Client: srv.Client(), CertFile: cert, Referrers: true}
}

// HaveDistribution reports whether Debian's docker-registry is installed.
func HaveDistribution() bool {
	_, err := exec.LookPath("docker-registry")
	return err == nil
}

// Distribution starts Debian's docker-registry on 127.0.0.1 with TLS and
// filesystem storage in a temporary folder, and with htpasswd auth (user
// "cairn") when withAuth. It skips the test when the binary is absent and
// stops the server by its PID at t.Cleanup.
func Distribution(t testing.TB, withAuth bool) *Registry {
	t.Helper()
	if !HaveDistribution() {
		t.Skip("docker-registry not found on PATH: install Debian's docker-registry package (apt-get install docker-registry)")
	}
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	r := &Registry{CertFile: certFile, Storage: filepath.Join(dir, "storage"),
		Client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	authCfg := ""
	if withAuth {
		r.User, r.Password = "cairn", "s3cret-registry-password"
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		pw := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(pw, []byte(r.User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		authCfg = fmt.Sprintf("auth:\n  htpasswd:\n    realm: cairn-test\n    path: %s\n", pw)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		r.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cfg := filepath.Join(dir, "config.yml")
		// Never the package's /etc/docker/registry/config.yml: it listens on
		// every interface.
		text := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: cairn-test-secret
  tls:
    certificate: %s
    key: %s
%s`, r.Storage, r.Host, certFile, keyFile, authCfg)
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if lastErr = r.start(t, cfg, filepath.Join(dir, fmt.Sprintf("registry-%d.log", attempt))); lastErr == nil {
			return r
		}
	}
	t.Fatalf("registrytest: %v", lastErr)
	return nil
}

func (r *Registry) start(t testing.TB, cfg, logPath string) error {
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command("docker-registry", "serve", cfg)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("docker-registry exited: %s", b)
		default:
		}
		resp, err := r.Client.Get("https://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			t.Cleanup(stop)
			return nil
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("docker-registry not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BlobPath returns the file docker-registry keeps blob (or manifest) d in.
func (r *Registry) BlobPath(d string) string {
	hex := strings.TrimPrefix(d, "sha256:")
	return filepath.Join(r.Storage, "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data")
}

// Repository returns repo of r as an oras-go client, with r's credentials.
func (r *Registry) Repository(t testing.TB, repo string) *remote.Repository {
	t.Helper()
	rr, err := remote.NewRepository(r.Host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	c := &auth.Client{Client: r.Client, Cache: auth.NewCache()}
	if r.User != "" {
		c.Credential = auth.StaticCredential(r.Host, auth.Credential{Username: r.User, Password: r.Password})
	}
	rr.Client = c
	return rr
}

// Layer is one layer of a pushed artifact: Data, or the contents of File.
type Layer struct {
	Title     string
	MediaType string // default ModelKitModel
	Data      []byte
	File      string
}

// Push pushes a ModelKit-shaped artifact (a config and layers) to repo,
// tags it tag (when not empty) and returns the manifest's digest.
func (r *Registry) Push(t testing.TB, repo, tag string, layers ...Layer) string {
	t.Helper()
	ctx := context.Background()
	rr := r.Repository(t, repo)
	config := []byte(`{"manifest":{"name":"` + repo + `","version":"` + tag + `"}}`)
	cfg := ocispec.Descriptor{MediaType: ModelKitConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	if err := rr.Push(ctx, cfg, bytes.NewReader(config)); err != nil {
		t.Fatalf("pushing config: %v", err)
	}
	var descs []ocispec.Descriptor
	for _, l := range layers {
		mt := l.MediaType
		if mt == "" {
			mt = ModelKitModel
		}
		var d ocispec.Descriptor
		if l.File != "" {
			d = pushFile(t, ctx, rr, mt, l.File)
		} else {
			d = ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(l.Data), Size: int64(len(l.Data))}
			if err := rr.Push(ctx, d, bytes.NewReader(l.Data)); err != nil {
				t.Fatalf("pushing layer %s: %v", l.Title, err)
			}
		}
		d.Annotations = map[string]string{ocispec.AnnotationTitle: l.Title}
		descs = append(descs, d)
	}
	m, err := oras.PackManifest(ctx, rr, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor:    &cfg,
		Layers:              descs,
		ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2026-11-23T12:00:00Z", "test.tag": tag},
	})
	if err != nil {
		t.Fatalf("pushing manifest: %v", err)
	}
	if tag != "" {
		if err := rr.Tag(ctx, m, tag); err != nil {
			t.Fatalf("tagging %s: %v", tag, err)
		}
	}
	return m.Digest.String()
}

func pushFile(t testing.TB, ctx context.Context, rr *remote.Repository, mt, file string) ocispec.Descriptor {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	d := ocispec.Descriptor{MediaType: mt, Digest: digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)), Size: n}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if err := rr.Push(ctx, d, f); err != nil {
		t.Fatalf("pushing %s: %v", file, err)
	}
	return d
}

// DockerConfig writes a docker config.json with r's credentials into dir
// and returns its path.
func (r *Registry) DockerConfig(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	body := `{"auths":{}}`
	if r.User != "" {
		tok := base64.StdEncoding.EncodeToString([]byte(r.User + ":" + r.Password))
		body = fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, r.Host, tok)
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func selfSigned(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Manifest fetches and decodes the manifest d of repo.
func (r *Registry) Manifest(t testing.TB, repo, d string) ocispec.Manifest {
	t.Helper()
	rr := r.Repository(t, repo)
	_, rc, err := rr.FetchReference(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var m ocispec.Manifest
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}
