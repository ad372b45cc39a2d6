#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl) from the official Go modules at one pinned release.
# Output is cached outside the checkout, keyed by version, so fresh clones reuse it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache_root="${KCR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kcr}"
out="$cache_root/controlplane/k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}"
bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)

have_all() { for b in "${bins[@]}"; do [[ -x "$out/$b" ]] || return 1; done; }
if have_all; then echo "$out"; exit 0; fi

start=$(date +%s)
work="$cache_root/controlplane/src-${KUBERNETES_VERSION}"
mkdir -p "$work" "$out.tmp"
cp "$here/go.mod.tmpl" "$work/go.mod"
sed -i "s/@KUBERNETES_VERSION@/${KUBERNETES_VERSION}/g; s/@STAGING_VERSION@/${STAGING_VERSION}/g; s/@ETCD_VERSION@/${ETCD_VERSION}/g" "$work/go.mod"
mkdir -p "$work/cmd/etcd"
cp "$here/etcd_main.go.txt" "$work/cmd/etcd/main.go"
cp "$here/tools.go.txt" "$work/tools.go"
cd "$work"
export GOFLAGS=-mod=mod CGO_ENABLED=0
echo "building control plane k8s ${KUBERNETES_VERSION}, etcd ${ETCD_VERSION} into $out (first build takes a while)" >&2
go mod tidy >&2
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${KUBERNETES_VERSION#v1.} -X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION}"
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  echo "  go build $b" >&2
  go build -trimpath -ldflags "$ldflags" -o "$out.tmp/$b" "k8s.io/kubernetes/cmd/$b"
done
echo "  go build etcd" >&2
go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" ./cmd/etcd
rm -rf "$out"; mv "$out.tmp" "$out"
echo "control plane built in $(( $(date +%s) - start ))s" >&2
echo "$out"
