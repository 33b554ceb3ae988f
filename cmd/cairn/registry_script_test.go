package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cairnops/cairn/internal/registrytest"
)

// scriptRegistries are the registries started by each running script.
var (
	scriptRegistriesMu sync.Mutex
	scriptRegistries   = map[*testscript.TestScript]*registrytest.Registry{}
)

func scriptRegistry(ts *testscript.TestScript) (*registrytest.Registry, bool) {
	scriptRegistriesMu.Lock()
	defer scriptRegistriesMu.Unlock()
	r, ok := scriptRegistries[ts]
	return r, ok
}

// cmdRegistryStart is the script command
//
//	registry-start distribution|referrers [auth]
//
// It starts a real OCI registry on 127.0.0.1 over TLS (internal/registrytest):
// Debian's docker-registry (no referrers API; skipped when absent) or
// go-containerregistry's in-process one (with it); auth (distribution only)
// asks for htpasswd credentials. It sets REGISTRY to HOST:PORT,
// SSL_CERT_FILE to the registry's certificate and DOCKER_CONFIG to a folder
// outside the work tree whose config.json holds the credentials.
func cmdRegistryStart(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "registry-start")
	if len(args) < 1 || len(args) > 2 || (len(args) == 2 && args[1] != "auth") {
		ts.Fatalf("usage: registry-start distribution|referrers [auth]")
	}
	tb := scriptTB(ts)
	var reg *registrytest.Registry
	switch args[0] {
	case "distribution":
		reg = registrytest.Distribution(tb, len(args) == 2)
	case "referrers":
		reg = registrytest.InProcess(tb, nil)
	default:
		ts.Fatalf("registry-start: unknown registry %q", args[0])
	}
	scriptRegistriesMu.Lock()
	scriptRegistries[ts] = reg
	scriptRegistriesMu.Unlock()
	ts.Defer(func() {
		scriptRegistriesMu.Lock()
		delete(scriptRegistries, ts)
		scriptRegistriesMu.Unlock()
	})
	dir := filepath.Join(ts.Getenv("WORK"), ".docker")
	ts.Check(os.MkdirAll(dir, 0o700))
	reg.DockerConfig(tb, dir)
	ts.Setenv("REGISTRY", reg.Host)
	ts.Setenv("SSL_CERT_FILE", reg.CertFile)
	ts.Setenv("DOCKER_CONFIG", dir)
}

// cmdRegistryPush is the script command
//
//	registry-push REPO TAG TITLE=FILE...
//
// It pushes a ModelKit (a config and one layer per FILE, titled TITLE) to
// REPO of the started registry, tagged TAG, and sets OCI_DIGEST to its
// manifest digest and LAYER1.. to its layers' digests.
func cmdRegistryPush(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "registry-push")
	if len(args) < 3 {
		ts.Fatalf("usage: registry-push REPO TAG TITLE=FILE...")
	}
	reg, ok := scriptRegistry(ts)
	if !ok {
		ts.Fatalf("registry-push: run registry-start first")
	}
	var layers []registrytest.Layer
	for _, a := range args[2:] {
		title, file, ok := strings.Cut(a, "=")
		if !ok {
			ts.Fatalf("registry-push: %q: want TITLE=FILE", a)
		}
		layers = append(layers, registrytest.Layer{Title: title, Data: []byte(ts.ReadFile(file))})
	}
	tb := scriptTB(ts)
	d := reg.Push(tb, args[0], args[1], layers...)
	ts.Setenv("OCI_DIGEST", d)
	for i, l := range reg.Manifest(tb, args[0], d).Layers {
		ts.Setenv("LAYER"+string(rune('1'+i)), l.Digest.String())
	}
}

// cmdRegistryCorrupt is the script command
//
//	registry-blob corrupt|break|restore|hide DIGEST
//
// corrupt changes the stored bytes of blob or manifest DIGEST in
// docker-registry's storage (a manifest stays valid JSON: its created
// date changes), break makes a manifest invalid JSON (the registry then
// answers 500 for it), hide moves the bytes away (it answers 404), and
// restore puts the original back.
func cmdRegistryCorrupt(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "registry-blob")
	reg, ok := scriptRegistry(ts)
	if !ok || reg.Storage == "" || len(args) != 2 {
		ts.Fatalf("usage: registry-blob corrupt|restore|hide DIGEST, after registry-start distribution")
	}
	p := reg.BlobPath(args[1])
	switch args[0] {
	case "corrupt", "break":
		data, err := os.ReadFile(p)
		ts.Check(err)
		ts.Check(os.WriteFile(p+".orig", data, 0o644))
		if i := strings.Index(string(data), "2026-11-23"); i >= 0 && args[0] == "corrupt" {
			data[i+3] = '7'
		} else {
			data[len(data)-2] ^= 1
		}
		ts.Check(os.WriteFile(p, data, 0o644))
	case "hide":
		ts.Check(os.Rename(filepath.Dir(p), filepath.Dir(p)+".hidden"))
	case "restore":
		if _, err := os.Stat(filepath.Dir(p) + ".hidden"); err == nil {
			ts.Check(os.Rename(filepath.Dir(p)+".hidden", filepath.Dir(p)))
			return
		}
		ts.Check(os.Rename(p+".orig", p))
	default:
		ts.Fatalf("registry-blob: unknown action %q", args[0])
	}
}
