// `npm run cluster:up`: start the local control plane (or report the running one) and print
// how to use it. The logic lives in local-cluster.ts so tests can start it too.
import { relative } from 'node:path';
import { ensureClusterUp } from './local-cluster.ts';
import { parseUpFlags, type UpFlags } from './up-flags.ts';

const usage = `usage: npm run cluster:up [-- --help]

Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler on 127.0.0.1
(state in .kcr/cluster.json, logs in .kcr/logs/, admin kubeconfig in .kcr/kubeconfig).
Running it again while the cluster runs reports it and exits 0. Stop it with npm run cluster:down.
`;

async function main(): Promise<void> {
  let flags: UpFlags;
  try {
    flags = parseUpFlags(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    process.exitCode = 2;
    return;
  }
  if (flags.help) {
    process.stdout.write(usage);
    return;
  }
  const { state, alreadyRunning, elapsedMs } = await ensureClusterUp({ log: (m) => console.error(m) });
  if (alreadyRunning) {
    console.log(`cluster already running at ${state.server} (started ${state.startedAt}, pids ${Object.values(state.pids).join(' ')})`);
  } else {
    console.log(`cluster up at ${state.server} in ${(elapsedMs / 1000).toFixed(1)}s (logs in ${relative(process.cwd(), state.kcrDir) || '.'}/logs/)`);
  }
  console.log(`export KUBECONFIG=${state.kubeconfig}`);
}

main().catch((err: unknown) => {
  console.error(`cluster:up failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
