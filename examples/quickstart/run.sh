#!/usr/bin/env bash
# Cairn's main job on the shipped example, end to end:
# validate -> sign -> verify -> plan -> apply to a local target, then apply
# again to show that nothing changes. It works on a copy in a temporary
# folder, so the example in the repository stays as it is.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-quickstart.XXXXXX")
echo "building cairn into $work/bin"
(cd "$repo" && go build -o "$work/bin/cairn" ./cmd/cairn)
cairn="$work/bin/cairn"

# The inventory is a git repository; trust roots live outside it.
cp -R "$repo/examples/quickstart" "$work/inventory"
rm -f "$work/inventory/run.sh"
mkdir -p "$work/trust"
cp "$work/inventory/keys/cairn-example.pub" "$work/trust/"
cd "$work/inventory"
git init -q -b main
git -c user.name=Quickstart -c user.email=quickstart@example.com add -A
git -c user.name=Quickstart -c user.email=quickstart@example.com commit -q -m "Model inventory"

step() { printf '\n$ cairn %s\n' "$*"; "$cairn" "$@"; }

step validate
# The example's key is encrypted; its password is in the README.
export CAIRN_KEY_PASSWORD=cairn-example
step sign fraud-detector@2.3.0 --key keys/cairn-example.key
step verify --trusted-key "$work/trust/cairn-example.pub"
step plan --target-root "$work/targets"
step apply --target-root "$work/targets" --state-dir "$work/state" --trusted-key "$work/trust/cairn-example.pub"
step apply --target-root "$work/targets" --state-dir "$work/state" --trusted-key "$work/trust/cairn-example.pub"

printf '\nproduction target:\n'
ls -l "$work/targets/production/fraud-detector"
printf '\naudit log: %s\n' "$work/state/audit.jsonl"
