package main

// Benchmark of `cairn verify` of an oci:// artifact (issue 13, acceptance
// 4): a 1 GiB layer served by Debian's docker-registry over TLS on
// loopback, against `sha256sum` of the same bytes on disk, in one run. It
// is not part of a default `go test` run:
//
//	go test ./bench -run '^$' -bench VerifyOCI -benchtime 1x
//
// SIZE_MIB sets the layer size (default 1024). Goal: ratio <= 1.3, peak
// RSS <= 64 MB. It also reports the ratio against `openssl dgst -sha256`.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnops/cairn/internal/registrytest"
)

func BenchmarkVerifyOCI(b *testing.B) {
	size := int64(1024)
	if s := os.Getenv("SIZE_MIB"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatalf("SIZE_MIB: %v", err)
		}
		size = n
	}
	reg := registrytest.Distribution(b, false)
	dir := b.TempDir()
	bin := filepath.Join(dir, "cairn")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/cairn").CombinedOutput(); err != nil {
		b.Fatalf("building cairn: %v\n%s", err, out)
	}
	layer := filepath.Join(dir, "model.bin")
	if _, err := writeArtifact(layer, size<<20); err != nil {
		b.Fatal(err)
	}
	d := reg.Push(b, "bench/big", "1.0.0", registrytest.Layer{Title: "model.bin", File: layer})
	inv := filepath.Join(dir, "inv")
	if err := writeVerifyInventory(inv, d); err != nil {
		b.Fatal(err)
	}
	model := filepath.Join(inv, "models", "big", "model.cue")
	data, err := os.ReadFile(model)
	if err != nil {
		b.Fatal(err)
	}
	uri := "oci://" + reg.Host + "/bench/big@" + d
	if err := os.WriteFile(model, []byte(strings.Replace(string(data), "file://artifacts/big.bin", uri, 1)), 0o644); err != nil {
		b.Fatal(err)
	}
	docker := filepath.Join(dir, "docker")
	if err := os.MkdirAll(docker, 0o700); err != nil {
		b.Fatal(err)
	}
	reg.DockerConfig(b, docker)
	b.Setenv("SSL_CERT_FILE", reg.CertFile)
	b.Setenv("DOCKER_CONFIG", docker)
	if _, err := measure(dir, 1, bin, "keygen", "--out", "bench"); err != nil {
		b.Fatal(err)
	}
	if _, err := measure(inv, 1, bin, "sign", "big@1.0.0", "--key", filepath.Join(dir, "bench.key")); err != nil {
		b.Fatal(err)
	}
	// The registry's blob and the file on disk are both in the page cache
	// after these runs.
	if _, err := measure(dir, 1, "sha256sum", layer); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		verify, err := measure(inv, 3, bin, "verify", "--trusted-key", filepath.Join(dir, "bench.pub"))
		if err != nil {
			b.Fatal(err)
		}
		sum, err := measure(dir, 3, "sha256sum", layer)
		if err != nil {
			b.Fatal(err)
		}
		// openssl uses the CPU's SHA extensions where coreutils may not:
		// the stricter peer.
		ossl, err := measure(dir, 3, "openssl", "dgst", "-sha256", layer)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(verify.wall)/float64(ossl.wall), "ratio-openssl")
		// The transfer alone, the floor under verify: curl of the layer blob
		// over the same TLS loopback, into /dev/null.
		if _, err := exec.LookPath("curl"); err == nil {
			blob := "https://" + reg.Host + "/v2/bench/big/blobs/" + reg.Manifest(b, "bench/big", d).Layers[0].Digest.String()
			fetch, err := measure(dir, 3, "curl", "-sf", "--cacert", reg.CertFile, "-o", "/dev/null", blob)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(fetch.wall.Seconds(), "curl-s")
		}
		b.ReportMetric(verify.wall.Seconds(), "verify-s")
		b.ReportMetric(sum.wall.Seconds(), "sha256sum-s")
		b.ReportMetric(float64(verify.wall)/float64(sum.wall), "ratio")
		b.ReportMetric(float64(verify.maxRSS)/1e6, "verify-peak-MB")
	}
}
