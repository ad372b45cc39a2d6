#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl) and the kubelet every local node runs, from the official
# Go modules at one pinned release.
# Output is cached outside the checkout, keyed by version, so fresh clones reuse it:
#   ${KCR_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/kcr}/controlplane/k8s-<version>-etcd-<version>/
# Prints that directory on stdout (the last line); progress goes to stderr.
# Concurrent callers are serialised with a lock: the second one waits and reuses the result.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache_root="${KCR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kcr}"
key="k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}"
out="$cache_root/controlplane/$key"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet)

have_all() { for b in "${bins[@]}"; do [[ -x "$out/$b" ]] || return 1; done; }
if have_all; then echo "$out"; exit 0; fi

mkdir -p "$cache_root/controlplane"
exec 9>"$cache_root/controlplane/$key.lock"
if ! flock -n 9; then
  echo "another process is building $key; waiting for it" >&2
  flock 9
fi
if have_all; then echo "$out"; exit 0; fi

start=$(date +%s)
work="$cache_root/controlplane/src-${KUBERNETES_VERSION}"
rm -rf "$out.tmp"
mkdir -p "$work" "$out.tmp"
cp "$here/go.mod.tmpl" "$work/go.mod"
sed -i "s/@KUBERNETES_VERSION@/${KUBERNETES_VERSION}/g; s/@STAGING_VERSION@/${STAGING_VERSION}/g; s/@ETCD_VERSION@/${ETCD_VERSION}/g" "$work/go.mod"
mkdir -p "$work/cmd/etcd"
cp "$here/etcd_main.go.txt" "$work/cmd/etcd/main.go"
cp "$here/tools.go.txt" "$work/tools.go"
cd "$work"
# Modules come from the Go module proxy only (no direct VCS fetches).
GOPROXY="$(go env GOPROXY | sed -E 's/[,|]direct$//')"
[[ -n "$GOPROXY" && "$GOPROXY" != direct && "$GOPROXY" != off ]] || GOPROXY=https://proxy.golang.org
export GOPROXY GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
echo "building control plane k8s ${KUBERNETES_VERSION}, etcd ${ETCD_VERSION} into $out (first build takes a while)" >&2
go mod tidy >&2
minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
ver=k8s.io/component-base/version
ldflags="-s -w -X $ver.gitVersion=${KUBERNETES_VERSION} -X $ver.gitMajor=1 -X $ver.gitMinor=${minor} -X $ver.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION}"
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet; do
  echo "  go build $b" >&2
  go build -trimpath -ldflags "$ldflags" -o "$out.tmp/$b" "k8s.io/kubernetes/cmd/$b"
done
echo "  go build etcd" >&2
go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" ./cmd/etcd
# A binary that cannot even print its version is not cached.
"$out.tmp/kube-apiserver" --version >&2
"$out.tmp/etcd" --version >&2
rm -rf "$out"; mv "$out.tmp" "$out"
echo "control plane built in $(( $(date +%s) - start ))s" >&2
echo "$out"
