#!/usr/bin/env bash
# Whole-binary benchmark of the evaluation cache (issue 16): cold, warm,
# one model changed, defaults and policy changed, and --rev, against a
# baseline build of main, in one run. SIZES picks the inventory sizes;
# SCALING=1 prints only cold --rev HEAD against the work tree.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/cairn" ./cmd/cairn
args=()
if [ -n "${BASELINE:-}" ]; then
	mkdir "$out/main"
	git archive "$BASELINE" | tar -x -C "$out/main"
	(cd "$out/main" && go build -o "$out/cairn-main" ./cmd/cairn)
	args+=(-baseline "$out/cairn-main")
fi
if [ -n "${SCALING:-}" ]; then
	args+=(-rev-only)
fi
go run ./bench cache -cairn "$out/cairn" "${args[@]}" -n "${SIZES:-10000}" -runs "${RUNS:-3}"
