// Where the built tools are, without building them: the control plane's kubectl
// (test/cluster/controlplane/build.sh) and helm/promtool (test/scripts/go-tool.sh), cached
// outside the checkout. test/run.sh builds them before any test; undefined when not built.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function envFile(path: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(join(REPO_ROOT, path), 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split('=') as [string, string]),
  );
}

const cacheRoot = process.env.KCR_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kcr');

export function toolPath(tool: 'kubectl' | 'helm' | 'promtool'): string | undefined {
  let path: string;
  if (tool === 'kubectl') {
    const v = envFile('test/cluster/controlplane/versions.env');
    path = join(cacheRoot, 'controlplane', `k8s-${v.KUBERNETES_VERSION}-etcd-${v.ETCD_VERSION}`, 'kubectl');
  } else {
    const v = envFile('test/scripts/go-tools.env');
    const version = tool === 'helm' ? v.HELM_VERSION : v.PROMETHEUS_VERSION;
    path = join(cacheRoot, 'tools', `${tool}-${version}`, tool);
  }
  return existsSync(path) ? path : undefined;
}
