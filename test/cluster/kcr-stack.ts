// kcr's whole stack on top of the local cluster, as long-lived local processes (the demo and
// `npm run cluster:up -- --kcr`):
//
//   redis-server          queue backend (AOF on, noeviction, a password as the Secret kcr-redis
//                         gives it), 127.0.0.1:<free port>
//   docker-registry       checkpoint images, plain HTTP on 127.0.0.1:<free port>, token auth
//                         (auth.token) trusting kcr's token service, as manifests/ sets it up
//   kcr token-service     the registry's token realm, 127.0.0.1:<free port>; its keys are the
//                         kcr-registry-token Secret (made here: the bring-your-own-key path).
//                         kcr-pull Secrets (per namespace) and kcr-registry (kcr's writer) are
//                         the controller's
//   nodes                 test/cluster/nodes/run.ts: per node the real kubelet and a runtime
//                         simulator with a CRI-O/containerd profile (nodes/README.md), in the
//                         node network namespace (netns/node-network.ts)
//   kcr webhook           as ServiceAccount kcr-system/kcr-webhook, registered by URL
//   kcr controller        as ServiceAccount kcr-system/kcr-controller
//   kcr agent (per node)  as ServiceAccount kcr-system/kcr-agent, NODE_NAME and
//                         KCR_CHECKPOINT_DIR = that node's kubelet checkpoint folder
//
// manifests/ is applied as the cluster tests do it (kcr-in-cluster.ts: CRDs, namespace, RBAC,
// Services, the webhook configuration pointed at the local URL); kcr's own Deployments and
// DaemonSet are left out: the local processes above stand in for them, with the environment
// the manifests give them. Every process runs detached (own process group, log in
// <kcrDir>/logs/) and is recorded in <kcrDir>/stack.json, so it outlives the command that
// started it and `stopStack` (npm run cluster:down) stops exactly these processes.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  KubeConfig,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import {
  installKcr,
  KCR_NAMESPACE,
  metricSum,
  pointWebhooksAtUrl,
  serviceAccountKubeconfig,
  WEBHOOK_CONFIGURATION,
  WEBHOOK_SERVICE_ACCOUNT,
  type ManifestSubset,
  type TestCluster,
} from './kcr-in-cluster.ts';
import { freePort, type ClusterState } from './local-cluster.ts';
import { NODE_NETNS, nodeNetworkUnavailable, removeNodeNetwork } from './netns/node-network.ts';
import { DEFAULT_NODE_PROFILES } from './nodes/profiles.ts';
import { createCa, ensureClusterPki, issueCert, KCR_DIR, REPO_ROOT, writeSecretFile } from './pki.ts';
import { isRunning, logTail, startDetachedProcess, stopDetachedProcess, type DetachedProcess } from './detached-process.ts';
import { writerCredential } from '../../src/registry-access/registry-identity.ts';
import { TOKEN_KEYS_SECRET, TOKEN_KEY_FILES, loadTokenKeys, newTokenKeyMaterial, tokenKeySecretData, type TokenKeyMaterial } from '../../src/registry-access/token-keys.ts';
import { registryTokenAuthLines } from '../support/registry.ts';

export const CONTROLLER_SERVICE_ACCOUNT = 'kcr-controller';
export const AGENT_SERVICE_ACCOUNT = 'kcr-agent';
export const REGISTRY_SECRET = 'kcr-registry';
/** ServiceAccount tokens of the local components: long enough for a day of trying kcr by hand. */
const TOKEN_SECONDS = 7 * 24 * 3600;

export interface StackOptions {
  cluster: Pick<ClusterState, 'server' | 'kubeconfig' | 'binDir' | 'pkiDir'>;
  /** Where state, logs and data live. Default: .kcr of the checkout. */
  kcrDir?: string;
  /** One runtime profile per node (node-1..N), see nodes/profiles.ts. Default two cri-o-1.34. */
  nodeProfiles?: readonly string[];
  /** First address index in the node network namespace (10.213.0.<11+offset>). Default 0. */
  netnsOffset?: number;
  /** `kcr controller` processes (one leader through the Lease). Default 1. */
  controllerReplicas?: number;
  /** `kcr webhook` processes behind one URL (a round-robin TCP balancer, as a Service spreads connections). Default 1. */
  webhookReplicas?: number;
  /** KCR_LOG_LEVEL of kcr's components. Default info. */
  logLevel?: string;
  log?: (msg: string) => void;
  /** Per-component readiness budget. Default 60 s. */
  readyTimeoutMs?: number;
  /**
   * The webhook's serving certificate: 'self' (default; kcr's own CA in a Secret, caBundle
   * published by the webhook) or 'files' (a pair made here and read from files, caBundle set
   * here - what cert-manager does in the cert-manager overlay).
   */
  webhookCertSource?: 'self' | 'files';
  /** More environment for the controller processes (tests shorten its intervals). */
  controllerEnv?: Record<string, string>;
  /** The namespace kcr is installed in and its ServiceAccounts live in. Default kcr-system. */
  namespace?: string;
  /**
   * Installs kcr's objects (CRDs, RBAC, policies, Services…) and returns what it applied.
   * Default: manifests/ as the cluster tests apply it (installKcr); the Helm test installs the chart.
   */
  install?: (cluster: TestCluster) => Promise<ManifestSubset>;
}

export interface StackNode {
  name: string;
  ip: string;
  /** The node's runtime profile, e.g. cri-o-1.34. */
  profile: string;
  /** The kubelet's checkpoint folder (its /var/lib/kubelet/checkpoints). */
  checkpointDir: string;
  /** The runtime simulator's control endpoint (faults), see nodes/node-control.ts. */
  controlUrl: string;
  kubeletLog: string;
  runtimeLog: string;
  runtimeConfig: { crioConfig: string; crioConfigDir: string; containerdConfig: string };
}

export interface StackState {
  version: 1;
  kcrDir: string;
  /** The API server this stack belongs to. */
  server: string;
  startedAt: string;
  /** passwordFile: Redis' password, as the pods mount the Secret kcr-redis (KCR_REDIS_PASSWORD_FILE). */
  redis: { url: string; dataDir: string; passwordFile: string };
  /**
   * authFile: a dockerconfigjson for the harness's own reads (skopeo), with kcr's writer
   * credential (kcr's components never get it from here: they read kcr-registry).
   */
  registry: { host: string; url: string; storageDir: string; authFile: string; tokenUrl: string; tokenKeyDir: string };
  /** url: what the API server calls; replicaUrls: each replica's own (the same one when there is one). */
  webhook: { url: string; replicaUrls: string[] };
  nodes: StackNode[];
  /** Components of kcr that were started, and those this checkout does not have yet. */
  components: { started: string[]; missing: string[] };
  /** The node network namespace, when this stack created it (removed again by stopStack). */
  createdNetns?: string;
  /** Health ports of the controller(s) and agents, by process name. */
  healthPorts: Record<string, number>;
  /** Plain-HTTP metrics ports (KCR_METRICS_PORT) of every webhook, controller and agent process, by process name. */
  metricsPorts: Record<string, number>;
  processes: DetachedProcess[];
}

function stackFile(kcrDir: string): string {
  return join(kcrDir, 'stack.json');
}

export function stackState(kcrDir: string = KCR_DIR): StackState | undefined {
  try {
    const s = JSON.parse(readFileSync(stackFile(kcrDir), 'utf8')) as StackState;
    return s.version === 1 ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Processes of the recorded stack that are no longer running. */
export function deadStackProcesses(state: StackState): string[] {
  return state.processes.filter((p) => !isRunning(p)).map((p) => p.name);
}

/** The kcr sub-commands `src/main.ts` offers (kcr --help). */
export function kcrCommands(): string[] {
  const out = execFileSync(process.execPath, [join(REPO_ROOT, 'src/main.ts'), '--help'], { cwd: REPO_ROOT, encoding: 'utf8' });
  return [...out.matchAll(/^ {2}([a-z][a-z-]*)\s/gm)].map((m) => m[1]!);
}

// ---------- probes ----------

function httpGet(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
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

/** Admissions each webhook replica answered so far (kcr_webhook_admissions_total, optionally of some labels, e.g. a reason), in replicaUrls order. */
export async function webhookAdmissions(replicaUrls: readonly string[], labels: Record<string, string> = {}): Promise<number[]> {
  return Promise.all(replicaUrls.map(async (u) => metricSum((await httpGet(`${u}/metrics`)).body, 'kcr_webhook_admissions_total', labels)));
}

function redisPing(port: number, password: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let data = '';
    sock.setTimeout(2000, () => sock.destroy());
    sock.on('error', () => resolve(false));
    sock.on('close', () => resolve(false));
    // AUTH's reply, then PING's.
    sock.on('data', (b) => {
      data += b.toString();
      if (data.split('\r\n').length < 3) return;
      resolve(data.split('\r\n')[1] === '+PONG');
      sock.end();
    });
    sock.on('connect', () => sock.write(`*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(password)}\r\n${password}\r\n*1\r\n$4\r\nPING\r\n`));
  });
}

/** Waits for `check`; fails early with the log tail when the process exits. */
async function waitReady(p: DetachedProcess, what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (!isRunning(p)) throw new Error(`${p.name} exited before ${what}; last lines of ${p.logFile}:\n${logTail(p.logFile)}`);
    try {
      if (await check()) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      throw new Error(`${p.name}: timed out waiting for ${what}${last ? ` (${last})` : ''}; last lines of ${p.logFile}:\n${logTail(p.logFile)}`);
    }
    await sleep(250);
  }
}

// ---------- start ----------

interface Ctx {
  opts: Required<Omit<StackOptions, 'cluster'>> & Pick<StackOptions, 'cluster'>;
  cluster: TestCluster;
  dir: string;
  logs: string;
  state: StackState;
  save(): void;
  launch(name: string, command: string, args: string[], env?: NodeJS.ProcessEnv): DetachedProcess;
  log(msg: string): void;
}

function baseEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
}

async function startRedisProcess(ctx: Ctx): Promise<void> {
  const port = await freePort();
  const dataDir = join(ctx.dir, 'redis');
  mkdirSync(dataDir, { recursive: true });
  // As in the cluster: a password file (the Secret kcr-redis) for kcr's components, and the
  // requirepass file redis/start-redis.sh would generate from it, so it is in no argument.
  // Outside dataDir: a restart "without its data" keeps the password.
  const password = randomBytes(24).toString('hex');
  const passwordFile = join(ctx.dir, 'redis-password');
  const authConf = join(ctx.dir, 'redis-auth.conf');
  writeSecretFile(passwordFile, `${password}\n`);
  writeSecretFile(authConf, `requirepass "${password}"\n`);
  // The production settings of redis/: AOF on, noeviction (BullMQ needs every key it wrote).
  const p = ctx.launch('redis', 'redis-server', [
    '--bind', '127.0.0.1', '--port', String(port), '--dir', dataDir,
    '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction',
    '--protected-mode', 'no', '--daemonize', 'no', '--loglevel', 'notice',
    '--include', authConf,
  ]);
  ctx.state.redis = { url: `redis://127.0.0.1:${port}`, dataDir, passwordFile };
  await waitReady(p, 'PING', () => redisPing(port, password), ctx.opts.readyTimeoutMs);
  ctx.log(`redis ready at redis://127.0.0.1:${port} (pid ${p.pid})`);
}

async function startRegistryProcess(ctx: Ctx): Promise<void> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const dir = join(ctx.dir, 'registry');
  const storageDir = join(dir, 'storage');
  mkdirSync(storageDir, { recursive: true });
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(storageDir)}`,
    '  delete:',
    '    enabled: true', // retention deletes manifests
    'http:',
    `  addr: ${JSON.stringify(host)}`,
    `  secret: ${JSON.stringify(randomBytes(16).toString('hex'))}`,
  ];
  const token = await startTokenService(ctx);
  const harness = writerCredential(loadTokenKeys(token.keys).credentialKey);
  writeFileSync(join(dir, 'token-signers.pem'), token.keys.cert);
  lines.push(...registryTokenAuthLines({ realm: `${token.url}/token`, service: TOKEN_SERVICE_NAME, issuer: TOKEN_ISSUER, rootCertBundle: token.keys.cert }, join(dir, 'token-signers.pem')));
  const config = join(dir, 'config.yml');
  writeFileSync(config, lines.join('\n') + '\n');
  const p = ctx.launch('registry', '/usr/bin/docker-registry', ['serve', config], { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir });
  const authFile = join(ctx.dir, 'registry-auth.json');
  writeSecretFile(authFile, JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${harness.username}:${harness.password}`).toString('base64') } } }));
  ctx.state.registry = { host, url: `http://${host}`, storageDir, authFile, tokenUrl: token.url, tokenKeyDir: token.keyDir };
  await waitReady(p, 'GET /v2/', async () => [200, 401].includes((await httpGet(`http://${host}/v2/`)).status), ctx.opts.readyTimeoutMs);
  ctx.log(`registry ready at http://${host} (token auth, realm ${token.url}/token) (pid ${p.pid})`);
}

const TOKEN_SERVICE_NAME = 'kcr-registry';
const TOKEN_ISSUER = 'kcr-token-service';

/** `kcr token-service` with fresh keys in a folder, as the Deployment mounts the kcr-registry-token Secret. */
async function startTokenService(ctx: Ctx): Promise<{ url: string; keys: TokenKeyMaterial; keyDir: string }> {
  const keys = newTokenKeyMaterial(new Date());
  const keyDir = join(ctx.dir, 'token-service', 'keys');
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  writeSecretFile(join(keyDir, TOKEN_KEY_FILES.cert), keys.cert);
  writeSecretFile(join(keyDir, TOKEN_KEY_FILES.key), keys.key);
  writeSecretFile(join(keyDir, TOKEN_KEY_FILES.credentialKey), keys.credentialKey);
  const port = await freePort();
  const p = kcrProcess(ctx, 'token-service', 'token-service', {
    KCR_TOKEN_HOST: '127.0.0.1',
    KCR_TOKEN_PORT: String(port),
    KCR_TOKEN_KEY_DIR: keyDir,
    KCR_TOKEN_SERVICE: TOKEN_SERVICE_NAME,
    KCR_TOKEN_ISSUER: TOKEN_ISSUER,
    KCR_REGISTRY_PREFIX: 'kcr',
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(p, '/readyz', async () => (await httpGet(`${url}/readyz`)).status === 200, ctx.opts.readyTimeoutMs);
  ctx.log(`kcr token-service ready at ${url} (pid ${p.pid})`);
  return { url, keys, keyDir };
}

function adminClients(kubeconfig: string): { core: CoreV1Api; admission: AdmissionregistrationV1Api } {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { core: kc.makeApiClient(CoreV1Api), admission: kc.makeApiClient(AdmissionregistrationV1Api) };
}

/**
 * The token service's keys as the kcr-registry-token Secret (replaced): the controller derives
 * the pull credentials from the same key the token service checks them with. Replaced, not kept:
 * each stack has its own token service, and an older stack's keys would not match it.
 */
async function applyTokenKeys(core: CoreV1Api, keyDir: string, namespace: string): Promise<void> {
  const read = (f: string) => readFileSync(join(keyDir, f), 'utf8');
  const keys: TokenKeyMaterial = { cert: read(TOKEN_KEY_FILES.cert), key: read(TOKEN_KEY_FILES.key), credentialKey: read(TOKEN_KEY_FILES.credentialKey) };
  const body = {
    metadata: { name: TOKEN_KEYS_SECRET, namespace: namespace, labels: { 'app.kubernetes.io/part-of': 'kcr' } },
    type: 'Opaque',
    data: tokenKeySecretData(keys),
  };
  await core.deleteNamespacedSecret({ name: TOKEN_KEYS_SECRET, namespace: namespace }).catch((err: unknown) => {
    if (!(err instanceof ApiException && err.code === 404)) throw err;
  });
  // kcr's writer credential of the previous stack's key: the controller writes this stack's.
  await core.deleteNamespacedSecret({ name: REGISTRY_SECRET, namespace: namespace }).catch((err: unknown) => {
    if (!(err instanceof ApiException && err.code === 404)) throw err;
  });
  await core.createNamespacedSecret({ namespace: namespace, body });
}

async function startNodes(ctx: Ctx): Promise<void> {
  const why = nodeNetworkUnavailable();
  if (why) throw new Error(`cannot run local nodes: ${why}`);
  if (!existsSync(`/var/run/netns/${NODE_NETNS}`)) ctx.state.createdNetns = NODE_NETNS;
  const readyFile = join(ctx.dir, 'nodes.json');
  const p = ctx.launch('nodes', process.execPath, [
    join(REPO_ROOT, 'test/cluster/nodes/run.ts'),
    '--kubeconfig', ctx.opts.cluster.kubeconfig,
    '--bin-dir', ctx.opts.cluster.binDir,
    '--pki-dir', ctx.opts.cluster.pkiDir,
    '--dir', join(ctx.dir, 'nodes'),
    '--profiles', ctx.opts.nodeProfiles.join(','),
    '--netns-offset', String(ctx.opts.netnsOffset),
    '--insecure-registry', ctx.state.registry.host,
    '--ready-file', readyFile,
  ], { ...baseEnv() });
  // Kubelets take longer than kcr's processes to register and lose their not-ready taint.
  await waitReady(p, 'nodes Ready', async () => existsSync(readyFile), Math.max(ctx.opts.readyTimeoutMs, 150_000));
  ctx.state.nodes = JSON.parse(readFileSync(readyFile, 'utf8')) as StackNode[];
  ctx.save();
  ctx.log(`nodes ${ctx.state.nodes.map((n) => `${n.name} (${n.profile})`).join(', ')} Ready: real kubelets, simulated runtimes (pid ${p.pid})`);
}

function kcrProcess(ctx: Ctx, name: string, command: string, env: NodeJS.ProcessEnv): DetachedProcess {
  return ctx.launch(name, process.execPath, [join(REPO_ROOT, 'src/main.ts'), command], {
    ...baseEnv(),
    KCR_NAMESPACE: ctx.opts.namespace,
    KCR_LOG_LEVEL: ctx.opts.logLevel,
    ...env,
  });
}

/** Registry settings from the manifests' point of view: KCR_REGISTRY*, the Secret as a mounted file. */
function registryEnv(ctx: Ctx): NodeJS.ProcessEnv {
  const r = ctx.state.registry;
  return {
    KCR_REGISTRY: r.host,
    KCR_REGISTRY_PREFIX: 'kcr',
    // Plain HTTP for this one registry only: every other registry keeps verified TLS.
    KCR_INSECURE_REGISTRIES: `http://${r.host}`,
    // Token mode, as manifests/ sets it: the components find kcr's writer credential in
    // kcr-registry, written by the controller; restored pods get their namespace's kcr-pull.
    KCR_REGISTRY_AUTH: 'token',
  };
}

async function startWebhook(ctx: Ctx, subset: ManifestSubset): Promise<void> {
  const dir = join(ctx.dir, 'webhook');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const kubeconfig = await serviceAccountKubeconfig(ctx.cluster, ctx.opts.namespace, WEBHOOK_SERVICE_ACCOUNT, join(dir, 'kubeconfig'), TOKEN_SECONDS);
  const replicaPorts: number[] = [];
  for (let i = 0; i < ctx.opts.webhookReplicas; i++) replicaPorts.push(await freePort());
  const replicaUrls = replicaPorts.map((port) => `https://127.0.0.1:${port}`);
  const port = ctx.opts.webhookReplicas > 1 ? await freePort() : replicaPorts[0]!;
  const url = `https://127.0.0.1:${port}`;
  const config = subset.webhookConfigurations.find((c) => c.metadata.name === WEBHOOK_CONFIGURATION);
  if (!config) throw new Error(`manifests/ render no MutatingWebhookConfiguration ${WEBHOOK_CONFIGURATION}`);
  const { admission, core } = adminClients(ctx.opts.cluster.kubeconfig);
  await admission.deleteMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION }).catch((err: unknown) => {
    if (!(err instanceof ApiException && err.code === 404)) throw err;
  });
  const certDir = join(dir, 'certs');
  mkdirSync(certDir, { recursive: true, mode: 0o700 });
  const body = pointWebhooksAtUrl(config, url) as V1MutatingWebhookConfiguration;
  if (ctx.opts.webhookCertSource === 'files') {
    const ca = createCa('kcr-local-webhook-ca');
    const pair = issueCert(ca, { subject: { cn: 'kcr-webhook' }, usage: 'server', dnsNames: [`kcr-webhook.${ctx.opts.namespace}.svc`], ips: ['127.0.0.1'] });
    writeSecretFile(join(certDir, 'tls.crt'), pair.cert);
    writeSecretFile(join(certDir, 'tls.key'), pair.key);
    for (const w of body.webhooks ?? []) w.clientConfig.caBundle = Buffer.from(ca.cert).toString('base64');
  }
  await admission.createMutatingWebhookConfiguration({ body });
  const replicaNames = replicaPorts.map((_, i) => (i === 0 ? 'webhook' : `webhook-${i + 1}`));
  for (const name of replicaNames) ctx.state.metricsPorts[name] = await freePort();
  ctx.save();
  const replicas = replicaPorts.map((replicaPort, i) => kcrProcess(ctx, replicaNames[i]!, 'webhook', {
    KUBECONFIG: kubeconfig,
    KCR_WEBHOOK_HOST: '127.0.0.1',
    KCR_WEBHOOK_PORT: String(replicaPort),
    KCR_METRICS_HOST: '127.0.0.1',
    KCR_METRICS_PORT: String(ctx.state.metricsPorts[replicaNames[i]!]),
    KCR_WEBHOOK_CERT_SOURCE: ctx.opts.webhookCertSource,
    KCR_WEBHOOK_CERT_DIR: certDir,
    KCR_WEBHOOK_CONFIGURATION: WEBHOOK_CONFIGURATION,
    KCR_WEBHOOK_EXTRA_SANS: '127.0.0.1',
    // It restores only images under <registry>/<prefix>/<namespace>/, as the agents push them.
    KCR_REGISTRY: registryEnv(ctx).KCR_REGISTRY,
    KCR_REGISTRY_PREFIX: registryEnv(ctx).KCR_REGISTRY_PREFIX,
    KCR_REGISTRY_AUTH: 'token',
  }));
  ctx.state.webhook = { url, replicaUrls };
  for (const [i, p] of replicas.entries()) {
    await waitReady(p, '/readyz and a published caBundle', async () => {
      if ((await httpGet(`${replicaUrls[i]}/readyz`)).status !== 200) return false;
      const cfg = await admission.readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION });
      return (cfg.webhooks ?? []).every((w) => (w.clientConfig.caBundle ?? '') !== '');
    }, ctx.opts.readyTimeoutMs);
  }
  const front = replicas.length > 1
    ? ctx.launch('webhook-balancer', process.execPath, [join(REPO_ROOT, 'test/cluster/tcp-round-robin.ts'), '--listen', `127.0.0.1:${port}`, '--to', replicaPorts.map((p) => `127.0.0.1:${p}`).join(',')])
    : replicas[0]!;
  // Proof the API server calls it: a dry-run pod create shows up in the webhooks' counters.
  await waitReady(front, 'the API server calling it (dry-run pod create)', async () => {
    const count = async () => (await webhookAdmissions(replicaUrls)).reduce((a, b) => a + b, 0);
    const before = await count();
    await core.createNamespacedPod({
      namespace: 'default',
      dryRun: 'All',
      body: { metadata: { name: 'kcr-webhook-probe' }, spec: { containers: [{ name: 'probe', image: 'probe' }] } },
    });
    return (await count()) > before;
  }, ctx.opts.readyTimeoutMs);
  ctx.log(`kcr webhook ready at ${url} as ${ctx.opts.namespace}/kcr-webhook (${replicas.length} replica${replicas.length > 1 ? 's behind a round-robin balancer' : ''}, pid ${replicas.map((p) => p.pid).join(', ')})`);
}

/** Waits for /readyz on the component's health port; components without one are accepted once they stay up 3 s. */
async function waitHealthy(ctx: Ctx, p: DetachedProcess, port: number): Promise<void> {
  const started = Date.now();
  await waitReady(p, `/readyz on 127.0.0.1:${port}`, async () => {
    const r = await httpGet(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
    return r?.status === 200;
  }, ctx.opts.readyTimeoutMs).catch((err: unknown) => {
    if (!isRunning(p)) throw err;
    ctx.log(`warning: ${p.name} is running but not ready after ${Math.round((Date.now() - started) / 1000)}s; see ${p.logFile}`);
  });
}

async function startController(ctx: Ctx): Promise<void> {
  const dir = join(ctx.dir, 'controller');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const kubeconfig = await serviceAccountKubeconfig(ctx.cluster, ctx.opts.namespace, CONTROLLER_SERVICE_ACCOUNT, join(dir, 'kubeconfig'), TOKEN_SECONDS);
  const started: { p: DetachedProcess; port: number }[] = [];
  for (let i = 1; i <= ctx.opts.controllerReplicas; i++) {
    const port = await freePort();
    const name = `controller-${i}`;
    const metricsPort = await freePort();
    ctx.state.metricsPorts[name] = metricsPort;
    const p = kcrProcess(ctx, name, 'controller', {
      KUBECONFIG: kubeconfig,
      KCR_POD_NAME: `kcr-controller-local-${i}`,
      KCR_REDIS_URL: ctx.state.redis.url,
      KCR_REDIS_PASSWORD_FILE: ctx.state.redis.passwordFile,
      KCR_HEALTH_PORT: String(port),
      KCR_METRICS_HOST: '127.0.0.1',
      KCR_METRICS_PORT: String(metricsPort),
      ...registryEnv(ctx),
      ...ctx.opts.controllerEnv,
    });
    ctx.state.healthPorts[name] = port;
    ctx.save();
    started.push({ p, port });
  }
  for (const { p, port } of started) await waitHealthy(ctx, p, port);
  ctx.log(`kcr controller x${started.length} running as ${ctx.opts.namespace}/kcr-controller (pids ${started.map((s) => s.p.pid).join(', ')})`);
}

/** Where the agent finds its node's runtime configuration (the DaemonSet mounts the host's /etc/crio and /etc/containerd). */
function runtimeConfigEnv(node: StackNode): NodeJS.ProcessEnv {
  return {
    KCR_CRIO_CONFIG: node.runtimeConfig.crioConfig,
    KCR_CRIO_CONFIG_DIR: node.runtimeConfig.crioConfigDir,
    KCR_CONTAINERD_CONFIG: node.runtimeConfig.containerdConfig,
    // An administrator's override label shows within seconds, not the default five minutes.
    KCR_CAPABILITY_INTERVAL_SECONDS: '10',
  };
}

/**
 * The agent's pod on `node`, as the DaemonSet would make it (the node's runtime runs it as the
 * sample app): the local agent process's token is bound to it, so the API server knows the
 * agent's node (authentication.kubernetes.io/node-name), as for a real DaemonSet pod.
 */
async function agentPod(ctx: Ctx, node: string): Promise<{ name: string; uid: string }> {
  const { core } = adminClients(ctx.opts.cluster.kubeconfig);
  const name = `kcr-agent-${node}`;
  await core.deleteNamespacedPod({ name, namespace: ctx.opts.namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  const deadline = Date.now() + ctx.opts.readyTimeoutMs;
  for (;;) {
    try {
      const created = await core.createNamespacedPod({
        namespace: ctx.opts.namespace,
        body: {
          // Not the DaemonSet's selector (name + component agent): where the chart's DaemonSet exists
          // (helm-chart.test.ts), its controller would adopt this pod and delete it.
          metadata: { name, labels: { 'app.kubernetes.io/name': 'kcr', 'app.kubernetes.io/component': 'local-agent' } },
          // The DaemonSet's toleration: without it, a node left not-ready by an earlier file's fault
          // has its NoExecute taint evict this pod at once, and the token request below finds no pod.
          spec: { nodeName: node, serviceAccountName: AGENT_SERVICE_ACCOUNT, automountServiceAccountToken: false, terminationGracePeriodSeconds: 0, tolerations: [{ operator: 'Exists' }], containers: [{ name: 'agent', image: 'kcr:0.1.0' }] },
        },
      });
      return { name, uid: created.metadata!.uid! };
    } catch (err) {
      // The previous one may still be going away.
      if (!(err instanceof ApiException && err.code === 409) || Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}

async function startAgents(ctx: Ctx): Promise<void> {
  const dir = join(ctx.dir, 'agent');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const started: { p: DetachedProcess; port: number }[] = [];
  for (const node of ctx.state.nodes) {
    const kubeconfig = await serviceAccountKubeconfig(ctx.cluster, ctx.opts.namespace, AGENT_SERVICE_ACCOUNT, join(dir, `kubeconfig-${node.name}`), TOKEN_SECONDS, await agentPod(ctx, node.name));
    const port = await freePort();
    const name = `agent-${node.name}`;
    const metricsPort = await freePort();
    ctx.state.metricsPorts[name] = metricsPort;
    mkdirSync(node.checkpointDir, { recursive: true, mode: 0o700 });
    const p = kcrProcess(ctx, name, 'agent', {
      KUBECONFIG: kubeconfig,
      NODE_NAME: node.name,
      KCR_POD_NAME: `kcr-agent-${node.name}`,
      KCR_REDIS_URL: ctx.state.redis.url,
      KCR_REDIS_PASSWORD_FILE: ctx.state.redis.passwordFile,
      KCR_CHECKPOINT_DIR: node.checkpointDir,
      // The agent calls its kubelet directly; the kubelets' serving certificates come from this CA.
      KCR_KUBELET_CA: ensureClusterPki(ctx.opts.cluster.pkiDir).kubeletCaCert,
      ...runtimeConfigEnv(node),
      KCR_HEALTH_PORT: String(port),
      KCR_METRICS_HOST: '127.0.0.1',
      KCR_METRICS_PORT: String(metricsPort),
      ...registryEnv(ctx),
    });
    ctx.state.healthPorts[name] = port;
    ctx.save();
    started.push({ p, port });
  }
  for (const { p, port } of started) await waitHealthy(ctx, p, port);
  ctx.log(`kcr agent on ${ctx.state.nodes.map((n) => n.name).join(', ')} as ${ctx.opts.namespace}/kcr-agent (pids ${started.map((s) => s.p.pid).join(', ')})`);
}

export interface StartStackResult {
  state: StackState;
  alreadyRunning: boolean;
  elapsedMs: number;
}

/**
 * Starts the stack on the given cluster, unless the recorded one already runs for it (then
 * returns that). A recorded stack with dead processes, or for another cluster, is stopped first.
 */
export async function startStack(options: StackOptions): Promise<StartStackResult> {
  const t0 = Date.now();
  const kcrDir = options.kcrDir ?? KCR_DIR;
  const log = options.log ?? (() => {});
  const existing = stackState(kcrDir);
  if (existing) {
    if (existing.server === options.cluster.server && deadStackProcesses(existing).length === 0) {
      return { state: existing, alreadyRunning: true, elapsedMs: Date.now() - t0 };
    }
    log(`stack: stopping the previous stack (${existing.server === options.cluster.server ? `dead: ${deadStackProcesses(existing).join(', ')}` : 'another cluster'})`);
    await stopStack(kcrDir);
  }
  const dir = join(kcrDir, 'stack');
  rmSync(dir, { recursive: true, force: true }); // fresh data: the cluster's etcd is fresh too
  const logs = join(kcrDir, 'logs');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync(logs, { recursive: true });
  const opts = {
    cluster: options.cluster,
    kcrDir,
    nodeProfiles: options.nodeProfiles ?? DEFAULT_NODE_PROFILES,
    netnsOffset: options.netnsOffset ?? 0,
    controllerReplicas: options.controllerReplicas ?? 1,
    webhookReplicas: options.webhookReplicas ?? 1,
    logLevel: options.logLevel ?? 'info',
    log,
    readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
    webhookCertSource: options.webhookCertSource ?? 'self',
    controllerEnv: options.controllerEnv ?? {},
    namespace: options.namespace ?? KCR_NAMESPACE,
    install: options.install ?? installKcr,
  };
  const state: StackState = {
    version: 1,
    kcrDir,
    server: options.cluster.server,
    startedAt: new Date().toISOString(),
    redis: { url: '', dataDir: '', passwordFile: '' },
    registry: { host: '', url: '', storageDir: '', authFile: '', tokenUrl: '', tokenKeyDir: '' },
    webhook: { url: '', replicaUrls: [] },
    nodes: [],
    components: { started: [], missing: [] },
    healthPorts: {},
    metricsPorts: {},
    processes: [],
  };
  const save = () => writeFileSync(stackFile(kcrDir), JSON.stringify(state, null, 2));
  const ctx: Ctx = {
    opts,
    cluster: { kubeconfig: options.cluster.kubeconfig, binDir: options.cluster.binDir, external: false },
    dir,
    logs,
    state,
    save,
    log,
    launch(name, command, args, env) {
      const spec = { name, command, args, env: env ?? baseEnv(), cwd: REPO_ROOT, logFile: join(logs, `${name.replace(/\s+/g, '-')}.log`) };
      LAUNCHED.set(`${kcrDir}\0${name}`, spec);
      const p = startDetachedProcess(spec);
      state.processes.push(p);
      save(); // record each pid at once: cluster:down finds a half-started stack too
      return p;
    },
  };
  save();
  try {
    const commands = kcrCommands();
    const want = ['webhook', 'controller', 'agent'];
    state.components.missing = want.filter((c) => !commands.includes(c));
    if (!commands.includes('webhook')) throw new Error('src/main.ts has no webhook command');

    // Independent parts start side by side: a loaded machine makes each one take seconds.
    const [subset] = await Promise.all([opts.install(ctx.cluster), startRedisProcess(ctx), startRegistryProcess(ctx)]);
    log(`manifests/ applied: ${subset.crds.length} CRDs, ${subset.rest.length} other objects, webhook configuration by URL; left out (run as local processes): ${subset.skipped.join(', ')}`);
    await applyTokenKeys(adminClients(opts.cluster.kubeconfig).core, state.registry.tokenKeyDir, opts.namespace);
    save();
    // Agents need their node's checkpoint folder: they start once the nodes are Ready.
    const parts: Promise<void>[] = [
      startNodes(ctx).then(async () => {
        if (commands.includes('agent')) await startAgents(ctx).then(() => void state.components.started.push('agent'));
      }),
      startWebhook(ctx, subset).then(() => void state.components.started.push('webhook')),
    ];
    if (commands.includes('controller')) parts.push(startController(ctx).then(() => void state.components.started.push('controller')));
    const results = await Promise.allSettled(parts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (state.components.missing.length > 0) log(`not in this checkout yet (not started): kcr ${state.components.missing.join(', kcr ')}`);
    save();
    return { state, alreadyRunning: false, elapsedMs: Date.now() - t0 };
  } catch (err) {
    await stopStack(kcrDir).catch(() => {});
    throw err;
  }
}

/** How each process of a stack this process started was launched, so a fault can kill it and start it again. */
const LAUNCHED = new Map<string, Parameters<typeof startDetachedProcess>[0]>();

/**
 * Starts a stack process again exactly as it was started (same command, arguments, environment,
 * log file; ports and data folders are in those), after a fault killed it. Only for stacks this
 * process started. The new pid replaces the old one in stack.json.
 */
export function relaunchStackProcess(kcrDir: string, name: string): DetachedProcess {
  const spec = LAUNCHED.get(`${kcrDir}\0${name}`);
  const state = stackState(kcrDir);
  if (!spec || !state) throw new Error(`no stack process ${name} was started by this process in ${kcrDir}`);
  const p = startDetachedProcess(spec);
  state.processes = [...state.processes.filter((x) => x.name !== name), p];
  writeFileSync(stackFile(kcrDir), JSON.stringify(state, null, 2));
  return p;
}

/** Stops every recorded stack process (kcr's components first, Redis last). Idempotent. */
export async function stopStack(kcrDir: string = KCR_DIR): Promise<{ stopped: string[] }> {
  const state = stackState(kcrDir);
  if (!state) return { stopped: [] };
  const stopped: string[] = [];
  // Reverse start order: agents/controller/webhook, then nodes, registry, Redis.
  for (const p of [...state.processes].reverse()) {
    if (await stopDetachedProcess(p, p.name === 'redis' ? 10_000 : 8_000)) stopped.push(p.name);
  }
  if (state.createdNetns) removeNodeNetwork();
  rmSync(stackFile(kcrDir), { force: true });
  return { stopped };
}

/** Human-readable lines: what runs where. */
export function describeStack(s: StackState): string[] {
  const lines = [
    `  redis                  ${s.redis.url}  (data ${s.redis.dataDir})`,
    `  registry               ${s.registry.url}  (plain HTTP, token auth: realm ${s.registry.tokenUrl}/token, pull Secrets kcr-pull per namespace)`,
    ...s.nodes.map((n) => `  node ${n.name.padEnd(17)} ${n.profile} at ${n.ip}: real kubelet (log ${n.kubeletLog}), simulated runtime (control ${n.controlUrl}, log ${n.runtimeLog})`),
    `  kcr webhook            ${s.webhook.url}  (ServiceAccount kcr-system/kcr-webhook)`,
  ];
  for (const [name, port] of Object.entries(s.healthPorts)) {
    const sa = name.startsWith('agent') ? AGENT_SERVICE_ACCOUNT : CONTROLLER_SERVICE_ACCOUNT;
    lines.push(`  kcr ${name.padEnd(18)} health http://127.0.0.1:${port}/readyz  (ServiceAccount kcr-system/${sa})`);
  }
  for (const [name, port] of Object.entries(s.metricsPorts ?? {})) lines.push(`  kcr ${name.padEnd(18)} metrics http://127.0.0.1:${port}/metrics`);
  if (s.components.missing.length > 0) lines.push(`  not started (not in this checkout yet): kcr ${s.components.missing.join(', kcr ')}`);
  const logDir = join(s.kcrDir, 'logs');
  lines.push(`  logs                   ${logDir}/{${s.processes.map((p) => p.logFile.slice(logDir.length + 1)).join(',')}}`);
  return lines;
}
