#!/usr/bin/env bash
# Installs the real servers the tests and the demo talk to, from Debian's packages:
# redis-server (BullMQ), docker-registry (an OCI registry) and skopeo (an independent client).
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
[[ -x /usr/bin/docker-registry ]] || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v openssl >/dev/null || need+=(openssl)
if ((${#need[@]})); then
  echo "installing ${need[*]} from Debian's packages" >&2
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
# Debian starts packaged services; kcr starts its own on loopback, so stop those.
for svc in redis-server docker-registry; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
done
exit 0
