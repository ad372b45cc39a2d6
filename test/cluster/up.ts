// `npm run cluster:up [-- --kcr]`: start the local control plane (or report the running one)
// and print how to use it; with --kcr also kcr's whole stack, left running for trying kcr by
// hand. The logic lives in local-cluster.ts and kcr-stack.ts so tests and the demo start it too.
import { relative } from 'node:path';
import { ensureClusterUp } from './local-cluster.ts';
import { describeStack, startStack } from './kcr-stack.ts';
import { RUNTIME_PROFILES } from './nodes/profiles.ts';
import { parseUpFlags, type UpFlags } from './up-flags.ts';

const usage = `usage: npm run cluster:up [-- --kcr [--nodes PROFILES]] [-- --help]

Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler on 127.0.0.1
(state in .kcr/cluster.json, logs in .kcr/logs/, admin kubeconfig in .kcr/kubeconfig).
Running it again while the cluster runs reports it and exits 0. Stop it with npm run cluster:down.

  --kcr   also start kcr: Redis, a registry (Basic auth), nodes (each a real kubelet with a
          simulated container runtime), kcr's webhook, controller and one agent per node (each
          as its own ServiceAccount), manifests/ applied, and the registry Secret copied into
          the default namespace.
  --nodes one runtime profile per node, comma-separated (default cri-o-1.34,cri-o-1.34):
          ${RUNTIME_PROFILES.join(', ')}; each may end in :restore=on or :restore=off.
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
  const log = (m: string) => console.error(m);
  const { state, alreadyRunning, elapsedMs } = await ensureClusterUp({ log });
  if (alreadyRunning) {
    console.log(`cluster already running at ${state.server} (started ${state.startedAt}, pids ${Object.values(state.pids).join(' ')})`);
  } else {
    console.log(`cluster up at ${state.server} in ${(elapsedMs / 1000).toFixed(1)}s (logs in ${relative(process.cwd(), state.kcrDir) || '.'}/logs/)`);
  }
  if (flags.kcr) {
    const stack = await startStack({ cluster: state, kcrDir: state.kcrDir, log, ...(flags.nodeProfiles ? { nodeProfiles: flags.nodeProfiles } : {}) });
    console.log(stack.alreadyRunning ? 'kcr already running:' : `kcr up in ${(stack.elapsedMs / 1000).toFixed(1)}s:`);
    for (const line of describeStack(stack.state)) console.log(line);
    console.log('try: kubectl apply -f manifests/samples/statefulset.yaml -f manifests/samples/checkpointschedule.yaml');
    console.log('pods in other namespaces pull checkpoint images with the kcr-registry Secret: copy it there from default');
  }
  console.log(`export KUBECONFIG=${state.kubeconfig}`);
}

main().catch((err: unknown) => {
  console.error(`cluster:up failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
