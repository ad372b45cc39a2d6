// Composition root of `kcr agent` (DaemonSet, one per node): config from the environment,
// the KubeConfig of the pod's ServiceAccount, the node's queue worker and the health server;
// SIGTERM drains running jobs within KCR_AGENT_SHUTDOWN_DEADLINE_MS (below the pod's grace period).
import { pino } from 'pino';
import { parseAgentConfig, type Env } from '../config.ts';
import { loadKubeConfig } from '../kube/config.ts';
import { createLogger } from '../log.ts';
import { startAgent } from '../agent/start-agent.ts';

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export async function run(argv: string[], env: Env = process.env): Promise<void> {
  if (argv.length > 0) {
    throw new Error(`kcr agent takes no arguments (got ${argv.join(' ')}); configure it with environment variables (NODE_NAME, KCR_REDIS_URL, KCR_REGISTRY, …)`);
  }
  const config = parseAgentConfig(env);
  const destination = pino.destination({ dest: 1, sync: false });
  const log = createLogger('agent', config.logLevel, destination);
  const kc = loadKubeConfig({ kubeconfig: config.kubeconfig });
  const agent = await startAgent({ config, kc, log });

  const signal = await waitForSignal();
  log.info({ signal, deadlineMs: config.shutdownDeadlineMs, node: config.nodeName }, 'shutting down');
  const outcome = await agent.close();
  log.info({ outcome, node: config.nodeName }, 'agent stopped');
  // Idle keep-alive sockets of client libraries must not hold the process past shutdown.
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
  try {
    destination.flushSync();
  } catch {
    // not opened yet: nothing buffered
  }
}
