// A local Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager
// and kube-scheduler built from upstream (controlplane/build.sh), with their own PKI (pki.ts).
// The processes are detached (own process groups) so they outlive `npm run cluster:up`; their
// pids and ports are kept in .kcr/cluster.json so `cluster:down` or a later call finds them.
import { nodeNetworkUnavailable, removeNodeNetwork } from './netns/node-network.ts';
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  KCR_DIR,
  REPO_ROOT,
  ensureClusterPki,
  issueClientCert,
  kubeconfigText,
  writeSecretFile,
  type CertAndKey,
  type PkiPaths,
} from './pki.ts';

export const SERVICE_CLUSTER_IP_RANGE = '10.96.0.0/12';

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';
/** Start order; stop order is the reverse. */
const COMPONENTS: Component[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

export interface ClusterState {
  version: 1;
  /** https://127.0.0.1:<port> */
  server: string;
  /** The admin kubeconfig (system:masters). */
  kubeconfig: string;
  binDir: string;
  kcrDir: string;
  pkiDir: string;
  ports: { etcdClient: number; etcdPeer: number; apiserver: number; controllerManager: number; scheduler: number };
  pids: Record<Component, number>;
  startedAt: string;
}

export interface ClusterOptions {
  /** Where state, data, logs and PKI live. Default: .kcr in the checkout. */
  kcrDir?: string;
  /** Directory holding the control-plane binaries; default: build (or reuse) with controlplane/build.sh. */
  binDir?: string;
  /** Progress messages. */
  log?: (msg: string) => void;
  /** How long to wait for the control plane to become ready. */
  readyTimeoutMs?: number;
}

export interface UpResult {
  state: ClusterState;
  alreadyRunning: boolean;
  /** Milliseconds from call to ready. */
  elapsedMs: number;
}

function paths(kcrDir: string) {
  return {
    state: join(kcrDir, 'cluster.json'),
    lock: join(kcrDir, 'cluster.lock'),
    kubeconfig: join(kcrDir, 'kubeconfig'),
    kubeconfigs: join(kcrDir, 'kubeconfigs'),
    logs: join(kcrDir, 'logs'),
    etcdData: join(kcrDir, 'etcd'),
    pki: join(kcrDir, 'pki'),
  };
}

// ---------- processes ----------

/** True when `pid` is alive and is the binary we started (guards against pid reuse). */
export function isOurProcess(pid: number, binary: string): boolean {
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    return argv0 === binary;
  } catch {
    return false;
  }
}

async function stopProcessGroup(pid: number, binary: string, graceMs: number): Promise<void> {
  if (!isOurProcess(pid, binary)) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig); // the whole process group: we spawned it detached, pgid == pid
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isOurProcess(pid, binary)) return;
    await sleep(100);
  }
  signal('SIGKILL');
  while (isOurProcess(pid, binary)) await sleep(50);
}

function startDetached(binary: string, args: string[], logFile: string): number {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(binary, args, { detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`could not start ${binary}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------- ports and probes ----------

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

interface Probe {
  status: number;
  body: string;
}

function get(url: string, tls?: { ca?: string; cert?: string; key?: string; insecure?: boolean }): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const opts = {
      method: 'GET',
      timeout: 3000,
      ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: !tls.insecure } : {}),
    };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  deadline: number,
  alive: () => string | undefined,
): Promise<void> {
  let lastErr = '';
  while (Date.now() < deadline) {
    const dead = alive();
    if (dead) throw new Error(`${what}: ${dead}`);
    try {
      if (await check()) return;
    } catch (err) {
      lastErr = err instanceof Error ? err.message : String(err);
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}${lastErr ? ` (last error: ${lastErr})` : ''}`);
}

// ---------- state and lock ----------

export function clusterState(kcrDir: string = KCR_DIR): ClusterState | undefined {
  try {
    const s = JSON.parse(readFileSync(paths(kcrDir).state, 'utf8')) as ClusterState;
    return s.version === 1 ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Components of `state` whose process is gone. */
export function deadComponents(state: ClusterState): Component[] {
  return COMPONENTS.filter((c) => !isOurProcess(state.pids[c], join(state.binDir, c)));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryCreate(file: string): boolean {
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** Serialises up/down across processes (a test run and a shell may both call up). */
async function withLock<T>(kcrDir: string, fn: () => Promise<T>, timeoutMs = 20 * 60_000): Promise<T> {
  const lock = paths(kcrDir).lock;
  mkdirSync(kcrDir, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  while (!tryCreate(lock)) {
    let holder: number;
    try {
      holder = Number(readFileSync(lock, 'utf8').trim());
    } catch {
      continue; // released between our two calls
    }
    if (!Number.isInteger(holder) || holder <= 0 || !pidAlive(holder)) {
      rmSync(lock, { force: true }); // stale: its holder died
      continue;
    }
    if (Date.now() > deadline) throw new Error(`cluster lock ${lock} held by pid ${holder} for too long`);
    await sleep(250);
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

// ---------- binaries ----------

/** Builds (first time, minutes) or finds (cached, instant) the control-plane binaries. */
export async function controlPlaneBinDir(log: (m: string) => void = () => {}): Promise<string> {
  const script = join(REPO_ROOT, 'test/cluster/controlplane/build.sh');
  log('control plane: building or reusing binaries (controlplane/build.sh)');
  const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c: string) => (out += c));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`controlplane/build.sh failed with exit code ${code}`);
  const dir = out.trim().split('\n').pop() ?? '';
  if (!existsSync(join(dir, 'kube-apiserver'))) throw new Error(`controlplane/build.sh printed ${JSON.stringify(dir)}, which has no kube-apiserver`);
  return dir;
}

// ---------- flags ----------

function componentKubeconfig(dir: string, name: string, server: string, caPem: string, client: CertAndKey): string {
  const file = join(dir, `${name}.kubeconfig`);
  writeSecretFile(file, kubeconfigText(server, caPem, { name, clientCert: client }));
  return file;
}

export function etcdArgs(dataDir: string, clientPort: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    '--name=kcr',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=kcr=${peer}`,
    '--initial-cluster-state=new',
    // A throwaway test cluster: durability is not worth the fsync latency.
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ];
}

/** Admission plugins of a normal cluster (kubeadm's defaults) plus NodeRestriction. */
export const ADMISSION_PLUGINS = [
  'NamespaceLifecycle',
  'LimitRanger',
  'ServiceAccount',
  'TaintNodesByCondition',
  'PodSecurity',
  'Priority',
  'DefaultTolerationSeconds',
  'DefaultStorageClass',
  'StorageObjectInUseProtection',
  'PersistentVolumeClaimResize',
  'RuntimeClass',
  'CertificateApproval',
  'CertificateSigning',
  'ClusterTrustBundleAttest',
  'CertificateSubjectRestriction',
  'DefaultIngressClass',
  'NodeRestriction',
  'MutatingAdmissionWebhook',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionWebhook',
  'ResourceQuota',
];

export function apiserverArgs(p: PkiPaths, etcdClientPort: number, port: number): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${etcdClientPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${port}`,
    `--tls-cert-file=${p.apiserverCert}`,
    `--tls-private-key-file=${p.apiserverKey}`,
    `--client-ca-file=${p.caCert}`,
    `--service-account-key-file=${p.saPub}`,
    `--service-account-signing-key-file=${p.saKey}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    '--authorization-mode=Node,RBAC',
    `--enable-admission-plugins=${ADMISSION_PLUGINS.join(',')}`,
    '--allow-privileged=true',
    // The API server reaches (simulated) kubelets over verified TLS, as its own non-admin user.
    `--kubelet-client-certificate=${p.apiserverKubeletClientCert}`,
    `--kubelet-client-key=${p.apiserverKubeletClientKey}`,
    `--kubelet-certificate-authority=${p.kubeletCaCert}`,
    '--kubelet-preferred-address-types=InternalIP',
    // The `kubernetes` Service cannot have a loopback endpoint (Endpoints validation rejects it).
    '--endpoint-reconciler-type=none',
    '--profiling=false',
    '--v=1',
  ];
}

export function controllerManagerArgs(p: PkiPaths, kubeconfig: string, port: number): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    '--controllers=*',
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${p.saKey}`,
    `--root-ca-file=${p.caCert}`,
    `--cluster-signing-cert-file=${p.caCert}`,
    `--cluster-signing-key-file=${p.caKey}`,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    '--allocate-node-cidrs=false',
    // Simulated nodes renew Leases from a test process that may stall for a while under load:
    // do not mark them NotReady (and evict their pods) for a briefly late Lease.
    '--node-monitor-grace-period=5m',
    '--node-startup-grace-period=5m',
    '--leader-elect=false',
    '--v=1',
  ];
}

export function schedulerArgs(kubeconfig: string, port: number): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    '--leader-elect=false',
    '--v=1',
  ];
}

// ---------- up / down ----------

async function healthy(state: ClusterState): Promise<boolean> {
  if (deadComponents(state).length > 0) return false;
  try {
    const tls = adminTls(state);
    const r = await get(`${state.server}/readyz`, tls);
    return r.status === 200;
  } catch {
    return false;
  }
}

function adminTls(state: ClusterState): { ca: string; cert: string; key: string } {
  const kc = JSON.parse(readFileSync(state.kubeconfig, 'utf8')) as {
    clusters: { cluster: { 'certificate-authority-data': string } }[];
    users: { user: { 'client-certificate-data': string; 'client-key-data': string } }[];
  };
  const d = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');
  return {
    ca: d(kc.clusters[0]?.cluster['certificate-authority-data']),
    cert: d(kc.users[0]?.user['client-certificate-data']),
    key: d(kc.users[0]?.user['client-key-data']),
  };
}

/**
 * Starts the control plane unless one from this .kcr is already running and ready.
 * Idempotent and safe to call from several processes at once.
 */
export async function ensureClusterUp(opts: ClusterOptions = {}): Promise<UpResult> {
  const started = Date.now();
  const kcrDir = opts.kcrDir ?? KCR_DIR;
  const log = opts.log ?? (() => {});
  return withLock(kcrDir, async () => {
    const existing = clusterState(kcrDir);
    if (existing && (await healthy(existing))) {
      return { state: existing, alreadyRunning: true, elapsedMs: Date.now() - started };
    }
    if (existing) {
      log(`cluster: previous cluster is not healthy (dead: ${deadComponents(existing).join(', ') || 'none'}); restarting it`);
      await stopComponents(existing);
    }
    const binDir = opts.binDir ?? (await controlPlaneBinDir(log));
    const state = await startCluster(kcrDir, binDir, opts.readyTimeoutMs ?? 120_000, log);
    return { state, alreadyRunning: false, elapsedMs: Date.now() - started };
  });
}

async function startCluster(
  kcrDir: string,
  binDir: string,
  readyTimeoutMs: number,
  log: (m: string) => void,
): Promise<ClusterState> {
  const d = paths(kcrDir);
  // A fresh cluster every start: no leftovers from earlier runs in etcd, fresh logs.
  rmSync(d.etcdData, { recursive: true, force: true });
  rmSync(d.logs, { recursive: true, force: true });
  mkdirSync(d.logs, { recursive: true });
  mkdirSync(d.kubeconfigs, { recursive: true, mode: 0o700 });
  const pki = ensureClusterPki(d.pki);

  const ports = {
    etcdClient: await freePort(),
    etcdPeer: await freePort(),
    apiserver: await freePort(),
    controllerManager: await freePort(),
    scheduler: await freePort(),
  };
  if (new Set(Object.values(ports)).size !== 5) throw new Error('could not pick five distinct free ports');
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const caPem = readFileSync(pki.caCert, 'utf8');
  const admin = issueClientCert('kubernetes-admin', ['system:masters'], d.pki);
  writeSecretFile(d.kubeconfig, kubeconfigText(server, caPem, { name: 'kubernetes-admin', clientCert: admin }));
  const cmKubeconfig = componentKubeconfig(d.kubeconfigs, 'kube-controller-manager', server, caPem, issueClientCert('system:kube-controller-manager', [], d.pki));
  const schedKubeconfig = componentKubeconfig(d.kubeconfigs, 'kube-scheduler', server, caPem, issueClientCert('system:kube-scheduler', [], d.pki));

  const state: ClusterState = {
    version: 1,
    server,
    kubeconfig: d.kubeconfig,
    binDir,
    kcrDir,
    pkiDir: d.pki,
    ports,
    pids: { etcd: 0, 'kube-apiserver': 0, 'kube-controller-manager': 0, 'kube-scheduler': 0 },
    startedAt: new Date().toISOString(),
  };
  const saveState = () => writeFileSync(d.state, JSON.stringify(state, null, 2));
  const logFile = (c: Component) => join(d.logs, `${c}.log`);
  const launch = (c: Component, args: string[]) => {
    state.pids[c] = startDetached(join(binDir, c), args, logFile(c));
    saveState(); // record each pid at once, so cluster:down finds a half-started cluster too
  };
  const deadline = Date.now() + readyTimeoutMs;
  const exited = (c: Component) => () =>
    isOurProcess(state.pids[c], join(binDir, c)) ? undefined : `${c} exited; last log lines:\n${logTail(logFile(c))}`;
  const anyExited = () => {
    for (const c of COMPONENTS) if (state.pids[c] !== 0) { const m = exited(c)(); if (m) return m; }
    return undefined;
  };

  try {
    launch('etcd', etcdArgs(d.etcdData, ports.etcdClient, ports.etcdPeer));
    await waitFor('etcd health', async () => (await get(`http://127.0.0.1:${ports.etcdClient}/health`)).status === 200, deadline, anyExited);
    log(`etcd ready on 127.0.0.1:${ports.etcdClient}`);

    launch('kube-apiserver', apiserverArgs(pki, ports.etcdClient, ports.apiserver));
    const tls = { ca: caPem, cert: admin.cert, key: admin.key };
    await waitFor('kube-apiserver /readyz', async () => (await get(`${server}/readyz`, tls)).status === 200, deadline, anyExited);
    log(`kube-apiserver ready at ${server}`);

    launch('kube-controller-manager', controllerManagerArgs(pki, cmKubeconfig, ports.controllerManager));
    launch('kube-scheduler', schedulerArgs(schedKubeconfig, ports.scheduler));
    const insecure = { insecure: true };
    await waitFor('kube-controller-manager /healthz', async () => (await get(`https://127.0.0.1:${ports.controllerManager}/healthz`, insecure)).status === 200, deadline, anyExited);
    await waitFor('kube-scheduler /healthz', async () => (await get(`https://127.0.0.1:${ports.scheduler}/healthz`, insecure)).status === 200, deadline, anyExited);
    // The service-account controllers have run once the default ServiceAccount exists:
    // before that, creating pods in `default` fails.
    await waitFor(
      'the default ServiceAccount in namespace default',
      async () => (await get(`${server}/api/v1/namespaces/default/serviceaccounts/default`, tls)).status === 200,
      deadline,
      anyExited,
    );
    // As kubeadm does: the API server's kubelet client may use the kubelet API (logs, exec,
    // proxy). nodes/checkpoint is not in that role on every cluster; kcr's manifests grant it.
    await kubectl(binDir, state.kubeconfig, [
      'create', 'clusterrolebinding', 'kube-apiserver-kubelet-client',
      '--clusterrole=system:kubelet-api-admin', '--user=kube-apiserver-kubelet-client',
    ]);
    log('controllers and scheduler ready');
    return state;
  } catch (err) {
    await stopComponents(state);
    rmSync(d.state, { force: true });
    throw err;
  }
}

async function stopComponents(state: ClusterState): Promise<void> {
  for (const c of [...COMPONENTS].reverse()) {
    const pid = state.pids[c];
    if (pid > 0) await stopProcessGroup(pid, join(state.binDir, c), c === 'etcd' ? 10_000 : 5_000);
  }
}

export interface DownResult {
  /** False when no cluster was recorded (nothing to do). */
  stopped: boolean;
  /** Ports of the stopped cluster that are still taken by someone else (should be empty). */
  busyPorts: number[];
}

/** Stops the cluster recorded in .kcr/cluster.json (SIGTERM, then SIGKILL). Idempotent. */
export async function stopCluster(opts: Pick<ClusterOptions, 'kcrDir'> = {}): Promise<DownResult> {
  const kcrDir = opts.kcrDir ?? KCR_DIR;
  return withLock(kcrDir, async () => {
    const state = clusterState(kcrDir);
    if (!state) return { stopped: false, busyPorts: [] };
    await stopComponents(state);
    // The simulated nodes' network namespace outlives their processes; it goes with the
    // checkout's main cluster (not with the throwaway clusters of the lifecycle test).
    if (kcrDir === KCR_DIR && nodeNetworkUnavailable() === undefined) removeNodeNetwork();
    try {
      unlinkSync(paths(kcrDir).state);
    } catch {
      /* already gone */
    }
    const busyPorts: number[] = [];
    for (const port of Object.values(state.ports)) if (!(await portIsFree(port))) busyPorts.push(port);
    return { stopped: true, busyPorts };
  });
}

/** Runs the built kubectl against a kubeconfig; rejects with stderr on a non-zero exit. */
export async function kubectl(
  binDir: string,
  kubeconfig: string,
  args: string[],
  input?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      join(binDir, 'kubectl'),
      [`--kubeconfig=${kubeconfig}`, ...args],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`kubectl ${args.join(' ')}: ${stderr || err.message}`));
        else resolve(stdout);
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

