#!/usr/bin/env bash
# Builds the real kube-apiserver and etcd from the Go module proxy, for the
# tests of the kserve target and of leader election. The binaries are cached
# by version under the user's cache directory; the script prints the folder.
#
#   hack/kube-binaries.sh            build if absent, print the folder
#   CAIRN_KUBE_BIN=DIR hack/...      use DIR instead of the cache
#
# Tests find the folder through CAIRN_KUBE_BIN or the same cache path
# (internal/kubetest), and skip with a clear message when it is empty.
set -euo pipefail

K8S_VERSION=1.37.2
ETCD_VERSION=3.7.3

cache=${XDG_CACHE_HOME:-$HOME/.cache}
out=${CAIRN_KUBE_BIN:-$cache/cairn/kube/k8s-v$K8S_VERSION-etcd-v$ETCD_VERSION}
mkdir -p "$out"
if [[ -x $out/kube-apiserver && -x $out/etcd ]]; then
	echo "$out"
	exit 0
fi

work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0

# replaces MODULE VERSION: one replace per module that MODULE's own go.mod
# replaces with a local folder (the staging modules of kubernetes, the sibling
# modules of etcd), pinned to VERSION. A dependency's replaces do not apply
# to the module that requires it, so the scratch module has to say them.
replaces() {
	local dir
	dir=$(go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	go mod edit -json "$dir/go.mod" |
		sed -n '/"Replace"/,$p' |
		grep -o '"Path": "[^"]*"' | sed 's/"Path": "\(.*\)"/\1/' | sort -u |
		while read -r path; do
			# Only the left-hand sides that are modules of the same project.
			case $path in
			k8s.io/* | go.etcd.io/etcd/*) echo "-replace=$path=$path@$3" ;;
			esac
		done
}

build() { # NAME MODULE VERSION SIBLING_VERSION PACKAGE LDFLAGS
	local name=$1 module=$2 version=$3 sibling=$4 pkg=$5 ldflags=$6
	if [[ -x $out/$name ]]; then return; fi
	mkdir -p "$work/$name" && cd "$work/$name"
	go mod init "cairn.build/$name" >/dev/null 2>&1
	# shellcheck disable=SC2046
	go mod edit $(replaces "$module" "v$version" "$sibling" | grep -v "=$module@")
	go get "$pkg@v$version" 2>"$work/$name.get.log" || { cat "$work/$name.get.log" >&2; return 1; }
	echo "building $name v$version" >&2
	go build -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg"
	mv "$out/$name.tmp" "$out/$name"
}

minor=${K8S_VERSION#*.}
minor=${minor%%.*}
build kube-apiserver k8s.io/kubernetes "$K8S_VERSION" "v0.${K8S_VERSION#*.}" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	"-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
build etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "v$ETCD_VERSION" \
	go.etcd.io/etcd/server/v3 "-s -w"

echo "$out"
