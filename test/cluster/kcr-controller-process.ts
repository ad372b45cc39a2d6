// `kcr controller` as a local child process for the cluster tests, authenticated as its own
// ServiceAccount (kcr-system/kcr-controller, a TokenRequest token bound only by the manifests'
// RBAC), with its health server on a free 127.0.0.1 port. Logs are kept (parsed JSON lines)
// and written to .kcr/logs/controller-<identity>.log.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { collectChildLogs } from './child-logs.ts';
import { freePort } from './local-cluster.ts';
import { KCR_NAMESPACE, serviceAccountKubeconfig, type TestCluster } from './kcr-in-cluster.ts';
import { KCR_DIR, REPO_ROOT } from './pki.ts';

export const CONTROLLER_SERVICE_ACCOUNT = 'kcr-controller';

export interface LocalController {
  identity: string;
  healthPort: number;
  logFile: string;
  logs: Record<string, unknown>[];
  /** Raw output (stdout + stderr), for asserting what was never printed. */
  output(): string;
  readyz(): Promise<{ status: number; body: { ready?: boolean; leading?: boolean; reasons?: string[] } }>;
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  readonly process: ChildProcess;
}

/** A kubeconfig of the controller's ServiceAccount (one per test file is enough). */
export async function controllerKubeconfig(cluster: TestCluster): Promise<string> {
  const dir = join(KCR_DIR, 'controller');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return serviceAccountKubeconfig(cluster, KCR_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT, join(dir, 'kubeconfig'));
}

export async function startLocalController(options: {
  kubeconfig: string;
  identity: string;
  redisUrl: string;
  env?: Record<string, string>;
  /** kcr's entry point: src/main.ts (default) or the compiled build/src/main.js the image runs. */
  entry?: string;
  /** A command the node process is started through (`launcher… node main controller`), e.g. the bench's memory cgroup. */
  launcher?: string[];
}): Promise<LocalController> {
  const healthPort = await freePort();
  mkdirSync(join(KCR_DIR, 'logs'), { recursive: true });
  const logFile = join(KCR_DIR, 'logs', `controller-${options.identity}.log`);
  const [command, ...prefix] = [...(options.launcher ?? []), process.execPath];
  const child = spawn(command!, [...prefix, options.entry ?? join(REPO_ROOT, 'src/main.ts'), 'controller'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      KUBECONFIG: options.kubeconfig,
      KCR_NAMESPACE,
      KCR_POD_NAME: options.identity,
      KCR_REDIS_URL: options.redisUrl,
      KCR_HEALTH_HOST: '127.0.0.1',
      KCR_HEALTH_PORT: String(healthPort),
      // Any free port: several controllers (and the other components) share this host.
      KCR_METRICS_HOST: '127.0.0.1',
      KCR_METRICS_PORT: '0',
      KCR_LOG_LEVEL: 'debug',
      ...options.env,
    },
  });
  const { logs, output, close } = collectChildLogs(child, logFile);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const gone = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      close();
      resolve();
    }),
  );
  process.once('exit', () => child.kill('SIGKILL'));
  const readyz = async () => {
    const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, body: (await res.json()) as { ready?: boolean; leading?: boolean; reasons?: string[] } };
  };
  const controller: LocalController = {
    identity: options.identity,
    healthPort,
    logFile,
    logs,
    output,
    readyz,
    exited: () => exit,
    kill: (signal) => child.kill(signal),
    async stop(graceMs = 10_000) {
      if (exit === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await gone;
        clearTimeout(timer);
      }
    },
    process: child,
  };
  // Up when the health server answers (ready or not: a test may start it without Redis).
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exit) throw new Error(`kcr controller ${options.identity} exited (${exit.code ?? exit.signal}); see ${logFile}`);
    if (await readyz().then(() => true, () => false)) break;
    if (Date.now() > deadline) {
      await controller.stop(1000);
      throw new Error(`kcr controller ${options.identity} did not serve /readyz within 30 s; see ${logFile}`);
    }
    await sleep(200);
  }
  return controller;
}
