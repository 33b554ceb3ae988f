package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// benchVerify signs and verifies one large file artifact with cairn and
// hashes the same file with openssl in the same run.
func benchVerify(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	cairn := fs.String("cairn", "./cairn", "cairn binary")
	openssl := fs.String("openssl", "openssl", "openssl binary")
	sizeMiB := fs.Int("size", 1024, "artifact size in MiB")
	runs := fs.Int("runs", 3, "runs per measurement (median wall time)")
	fs.Parse(args)
	cairnBin, err := filepath.Abs(*cairn)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "cairn-bench-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	inv := filepath.Join(dir, "inv")
	artifact := filepath.Join("artifacts", "big.bin")
	digest, err := writeArtifact(filepath.Join(inv, artifact), int64(*sizeMiB)<<20)
	if err != nil {
		return err
	}
	if err := writeVerifyInventory(inv, digest); err != nil {
		return err
	}
	if _, err := measure(dir, 1, cairnBin, "keygen", "--out", "bench"); err != nil {
		return err
	}
	// Warm the page cache so that every command reads the file from memory.
	if _, err := measure(inv, 1, *openssl, "dgst", "-sha256", artifact); err != nil {
		return err
	}
	sign, err := measure(inv, *runs, cairnBin, "sign", "big@1.0.0", "--key", filepath.Join(dir, "bench.key"))
	if err != nil {
		return err
	}
	verify, err := measure(inv, *runs, cairnBin, "verify", "--trusted-key", filepath.Join(dir, "bench.pub"))
	if err != nil {
		return err
	}
	ossl, err := measure(inv, *runs, *openssl, "dgst", "-sha256", artifact)
	if err != nil {
		return err
	}
	fmt.Printf("%-8s %-24s %10s %10s\n", "size", "command", "wall", "peak RSS")
	row := func(name string, m measurement) {
		fmt.Printf("%-8s %-24s %10s %8.1fMB\n", fmt.Sprintf("%dMiB", *sizeMiB), name, m.wall.Round(time.Millisecond), float64(m.maxRSS)/1e6)
	}
	row("cairn sign", sign)
	row("cairn verify", verify)
	row("openssl dgst -sha256", ossl)
	fmt.Printf("%-8s %-24s %9.2fx\n", fmt.Sprintf("%dMiB", *sizeMiB), "ratio verify/openssl", float64(verify.wall)/float64(ossl.wall))
	return nil
}

// writeArtifact writes size pseudo-random bytes to path and returns their
// sha256 digest.
func writeArtifact(path string, size int64) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{'c', 'a', 'i', 'r', 'n'})
	buf := make([]byte, 1<<20)
	for written := int64(0); written < size; {
		n := min(int64(len(buf)), size-written)
		rng.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			return "", err
		}
		written += n
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// writeVerifyInventory writes a one-model inventory whose production
// version pins the artifact.
func writeVerifyInventory(dir, digest string) error {
	files := map[string]string{
		"inventory.cue": "package inventory\n\nsigning: required: [\"production\"]\nrules: monitors: severity: \"off\"\n",
		"models/big/model.cue": fmt.Sprintf(`package model

card: {
	title:       "Big model"
	description: "A large artifact for the verify benchmark."
	owners: ["@acme/ml"]
	risk: tier: "low"
	intendedUse: "Benchmarks."
	limitations: []
	license:   "MIT"
	framework: "onnx"
	data: training: [{uri: "s3://bucket/train.parquet"}]
	review: lastReviewed: "2026-10-01"
}

versions: "1.0.0": artifact: {
	uri:    "file://artifacts/big.bin"
	digest: %q
}

stages: production: "1.0.0"
`, digest),
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}
