// Package invgen writes synthetic inventories of any size for tests and
// benchmarks: every model valid, with a realistic card, two versions, stage
// pins and monitors, and artifact files with correct digests.
package invgen

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// Write creates an inventory of n models under dir (which must exist) and
// returns the model names. Artifact files are shared by every model so that
// a 10k-model inventory stays small on disk.
func Write(dir string, n int) ([]string, error) {
	files := map[string]string{
		"cue.mod/module.cue": "module: \"example.com/bench\"\nlanguage: version: \"v0.17.0\"\n",
		"inventory.cue": `package inventory

targets: prod: {stage: "production", kind: "local", path: "prod"}
approvals: production: min: 1
// Generated artifacts are not signed: the benchmarks measure evaluation.
signing: required: []
`,
		"models/defaults.cue": "package model\n\ncard: license: *\"proprietary\" | string\n",
	}
	for name, content := range files {
		if err := writeFile(filepath.Join(dir, name), []byte(content)); err != nil {
			return nil, err
		}
	}
	digests := make([]string, 2)
	for i := range digests {
		b := []byte(fmt.Sprintf("synthetic model weights %d\n", i))
		if err := writeFile(filepath.Join(dir, "artifacts", fmt.Sprintf("v%d.bin", i)), b); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		digests[i] = "sha256:" + hex.EncodeToString(sum[:])
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("model-%05d", i)
		if err := writeFile(filepath.Join(dir, "models", names[i], "model.cue"), []byte(Model(names[i], digests[0], digests[1]))); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// Model returns the CUE source of one synthetic model.
func Model(name, d0, d1 string) string {
	return fmt.Sprintf(`package model

card: {
	title:       "Synthetic model %[1]s"
	description: "A generated model used to measure Cairn."
	owners: ["@acme/ml-platform", "oncall@acme.example"]
	risk: {tier: "medium", assessment: "https://wiki.acme.example/risk/%[1]s"}
	intendedUse: "Benchmarks."
	limitations: ["Synthetic."]
	framework: "onnx"
	data: training: [{uri: "s3://bucket/%[1]s/train.parquet", pii: false}]
	review: lastReviewed: "2026-10-01"
}

versions: {
	"1.0.0": artifact: {uri: "file://artifacts/v0.bin", digest: %[2]q}
	"1.1.0": {
		artifact: {uri: "file://artifacts/v1.bin", digest: %[3]q}
		metrics: {auc: 0.91, f1: 0.84}
	}
}

stages: {staging: "1.1.0", production: "1.1.0"}

monitors: {
	accuracy: {query: "model_accuracy{model=\"%[1]s\"}", min: 0.9, for: "30m", action: "rollback", kind: "performance"}
	drift: {query: "model_psi{model=\"%[1]s\"}", max: 0.2, action: "retrain", kind: "drift"}
}
`, name, d0, d1)
}

func writeFile(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}
