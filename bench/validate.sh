#!/usr/bin/env bash
# Whole-binary benchmark: `cairn validate` against `cue vet -c` (same CUE
# version as go.mod) on generated inventories of 1k and 10k models.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cuever=$(go list -m -f '{{.Version}}' cuelang.org/go)
go build -o "$out/cairn" ./cmd/cairn
GOBIN="$out" go install "cuelang.org/go/cmd/cue@$cuever"
go run ./bench validate -cairn "$out/cairn" -cue "$out/cue" -n "${SIZES:-1000,10000}" -runs "${RUNS:-3}"
