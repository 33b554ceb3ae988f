#!/usr/bin/env bash
# Whole-binary benchmark: `cairn sign` and `cairn verify` of a 1 GiB file
# artifact against `openssl dgst -sha256` on the same file, in one run, with
# peak RSS. Target: verify/openssl <= 1.0x, peak RSS < 64 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/cairn" ./cmd/cairn
go run ./bench verify -cairn "$out/cairn" -size "${SIZE_MIB:-1024}" -runs "${RUNS:-3}"
