#!/usr/bin/env bash
# Builds one Go command-line tool the tests and `npm run dist` use (helm, promtool) from the
# Go module proxy at the version pinned in go-tools.env, cached outside the checkout like the
# control plane:
#   ${KCR_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/kcr}/tools/<tool>-<version>/<tool>
# Usage: go-tool.sh helm|promtool   — prints the binary's path (last line); progress to stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=go-tools.env
source "$here/go-tools.env"
tool="${1:?usage: go-tool.sh helm|promtool}"
case "$tool" in
  helm) pkg="helm.sh/helm/v4/cmd/helm"; version="$HELM_VERSION"
        ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=${HELM_VERSION}"; version_args=(version) ;;
  promtool) pkg="github.com/prometheus/prometheus/cmd/promtool"; version="$PROMETHEUS_VERSION"
        ldflags="-s -w"; version_args=(--version) ;;
  *) echo "go-tool.sh: unknown tool $tool (helm, promtool)" >&2; exit 2 ;;
esac
cache_root="${KCR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kcr}"
out="$cache_root/tools/$tool-$version"
if [[ -x "$out/$tool" ]]; then echo "$out/$tool"; exit 0; fi
mkdir -p "$cache_root/tools"
exec 9>"$cache_root/tools/$tool-$version.lock"
flock 9   # a concurrent caller waits and reuses the result
if [[ -x "$out/$tool" ]]; then echo "$out/$tool"; exit 0; fi
# Modules come from the Go module proxy only (no direct VCS fetches).
GOPROXY="$(go env GOPROXY | sed -E 's/[,|]direct$//')"
[[ -n "$GOPROXY" && "$GOPROXY" != direct && "$GOPROXY" != off ]] || GOPROXY=https://proxy.golang.org
export GOPROXY CGO_ENABLED=0 GOFLAGS=-buildvcs=false
start=$(date +%s)
rm -rf "$out.tmp"; mkdir -p "$out.tmp"
echo "building $tool $version from $pkg (first build takes a while)" >&2
GOBIN="$out.tmp" go install -trimpath -ldflags "$ldflags" "$pkg@$version" >&2
"$out.tmp/$tool" "${version_args[@]}" >&2   # a binary that cannot print its version is not cached
rm -rf "$out"; mv "$out.tmp" "$out"
echo "$tool built in $(( $(date +%s) - start ))s" >&2
echo "$out/$tool"
