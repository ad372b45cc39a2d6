#!/usr/bin/env bash
# The README's test command runs this (through `npm test`): static checks, unit,
# integration (real Redis, registry, HTTPS), the node runtime simulator's own tests (Go, against
# a real registry) and cluster (a real control plane, real kubelets) tests, then a 3-minute
# chaos soak (test/soak/soak.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
node -e 'const [maj]=process.versions.node.split(".");if(+maj!==24){console.error(`kcr needs Node.js 24, got ${process.version}: run through npm (npm ci && npm test)`);process.exit(1)}'
bash test/scripts/system-deps.sh
# The tools the tests run (kubectl's kustomize, helm, promtool) are built from the Go module proxy
# and cached outside the checkout; unit tests use them, so they come first.
echo "== tools"; bash test/cluster/controlplane/build.sh >/dev/null; bash test/scripts/go-tool.sh helm >/dev/null; bash test/scripts/go-tool.sh promtool >/dev/null
echo "== typecheck"; npx tsc -p tsconfig.json
echo "== lint"; npx eslint .
echo "== unit"; npx vitest run --project unit
echo "== integration"; npx vitest run --project integration
echo "== runtime simulator"; (cd test/cluster/cri-sim && GOFLAGS=-mod=mod CGO_ENABLED=0 go test ./...)
if [[ -d test/cluster ]] && compgen -G "test/cluster/*.test.ts" >/dev/null; then
  echo "== cluster"; npx vitest run --project cluster
  echo "== chaos soak (3 minutes)"; node test/soak/soak.ts --minutes 3
fi
