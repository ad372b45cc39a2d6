// `npm run cluster:down`: stop kcr's stack (if cluster:up --kcr or the demo left one) and the
// local control plane started by cluster:up. Idempotent.
import { stopCluster } from './local-cluster.ts';
import { stopStack } from './kcr-stack.ts';

async function main(): Promise<void> {
  const extra = process.argv.slice(2);
  if (extra.length > 0) {
    console.error(`cluster:down: unknown arguments ${extra.join(' ')}`);
    process.exitCode = 2;
    return;
  }
  const stack = await stopStack();
  if (stack.stopped.length > 0) console.log(`kcr stopped: ${stack.stopped.join(', ')}`);
  const { stopped, busyPorts } = await stopCluster();
  if (!stopped) {
    console.log('no local cluster is running');
    return;
  }
  if (busyPorts.length > 0) {
    console.error(`cluster stopped, but ports ${busyPorts.join(', ')} are still in use`);
    process.exitCode = 1;
    return;
  }
  console.log('cluster stopped; its ports are free');
}

main().catch((err: unknown) => {
  console.error(`cluster:down failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
