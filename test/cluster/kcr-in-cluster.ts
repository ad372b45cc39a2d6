// kcr inside a cluster, for the cluster tests: install kcr's CRDs, namespace and RBAC from
// manifests/ with the built kubectl, and run `kcr webhook` as a local child process that
// authenticates as its own ServiceAccount (a TokenRequest token, never admin), registered
// through the manifests' MutatingWebhookConfiguration pointed at https://127.0.0.1:<port>.
//
// Which manifests are applied: everything `kubectl kustomize manifests/` renders EXCEPT the
// workloads of kcr's own components (Deployments, DaemonSets, StatefulSets, Jobs, and
// PodDisruptionBudgets), whose image does not exist here: the webhook runs as a local process
// instead. The MutatingWebhookConfiguration is applied with clientConfig.service replaced by
// clientConfig.url; every other field is kept as the manifest has it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  KubeConfig,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { collectChildLogs } from './child-logs.ts';
import { freePort, kubectl } from './local-cluster.ts';
import { KCR_DIR, REPO_ROOT, writeSecretFile } from './pki.ts';

export const KCR_NAMESPACE = 'kcr-system';
export const WEBHOOK_SERVICE_ACCOUNT = 'kcr-webhook';
export const WEBHOOK_CONFIGURATION = 'kcr-restore';

/** How the tests reach a cluster: the local one (cluster:up) or an external one (KCR_TEST_KUBECONFIG). */
export interface TestCluster {
  /** Admin kubeconfig. */
  kubeconfig: string;
  /** Where the built kubectl is. */
  binDir: string;
  external: boolean;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** Kinds that run kcr's own containers: not applied, the tests run the webhook locally. */
export const SKIPPED_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet', 'Job', 'CronJob', 'PodDisruptionBudget']);

export interface ManifestSubset {
  crds: K8sObject[];
  /** Namespace, ServiceAccounts, RBAC, Services, ConfigMaps…: applied as they are. */
  rest: K8sObject[];
  webhookConfigurations: K8sObject[];
  skipped: string[];
}

/** Splits kustomize output into what the harness applies, in order, and what it leaves out. */
export function splitManifests(objects: K8sObject[]): ManifestSubset {
  const out: ManifestSubset = { crds: [], rest: [], webhookConfigurations: [], skipped: [] };
  for (const o of objects) {
    if (o.kind === 'CustomResourceDefinition') out.crds.push(o);
    else if (o.kind === 'MutatingWebhookConfiguration') out.webhookConfigurations.push(o);
    else if (SKIPPED_KINDS.has(o.kind)) out.skipped.push(`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    else out.rest.push(o);
  }
  return out;
}

/**
 * The manifest's webhook configuration, pointed at a URL instead of the in-cluster Service:
 * each webhook's clientConfig becomes {url: base + the Service path}; caBundle is dropped
 * (kcr's certs code in the webhook process patches it in).
 */
export function pointWebhooksAtUrl(config: K8sObject, baseUrl: string): K8sObject {
  const copy = structuredClone(config) as K8sObject & { webhooks?: { clientConfig?: { service?: { path?: string } } }[] };
  for (const w of copy.webhooks ?? []) {
    const path = w.clientConfig?.service?.path ?? '/mutate';
    w.clientConfig = { url: `${baseUrl}${path}` } as never;
  }
  return copy;
}

export async function renderManifests(cluster: TestCluster, dir = join(REPO_ROOT, 'manifests')): Promise<K8sObject[]> {
  const text = await kubectl(cluster.binDir, cluster.kubeconfig, ['kustomize', dir]);
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

function yamlStream(objects: K8sObject[]): string {
  return objects.map((o) => JSON.stringify(o)).join('\n---\n');
}

/** Applies kcr's CRDs (waiting until Established), namespace and RBAC. Idempotent. */
export async function installKcr(cluster: TestCluster): Promise<ManifestSubset> {
  const subset = splitManifests(await renderManifests(cluster));
  const k = (args: string[], input?: string) => kubectl(cluster.binDir, cluster.kubeconfig, args, input);
  if (subset.crds.length > 0) {
    await k(['apply', '--server-side', '--force-conflicts', '-f', '-'], yamlStream(subset.crds));
    await k(['wait', '--for=condition=Established', '--timeout=60s', ...subset.crds.map((c) => `crd/${c.metadata.name}`)]);
    // Established is not yet servable: the first requests after it can get 429 "storage is
    // (re)initializing" while the watch cache fills. A list of every kind that succeeds is.
    const kinds = subset.crds.map((c) => c.metadata.name).join(',');
    for (let i = 0; ; i++) {
      try {
        await k(['get', kinds, '--all-namespaces', '--ignore-not-found']);
        break;
      } catch (err) {
        if (i >= 60) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
  // kubectl applies in stream order: namespaces first, so the namespaced objects find theirs.
  const ordered = [...subset.rest.filter((o) => o.kind === 'Namespace'), ...subset.rest.filter((o) => o.kind !== 'Namespace')];
  if (ordered.length > 0) await k(['apply', '-f', '-'], yamlStream(ordered));
  return subset;
}

function adminClients(cluster: TestCluster): { kc: KubeConfig; core: CoreV1Api; admission: AdmissionregistrationV1Api } {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  return { kc, core: kc.makeApiClient(CoreV1Api), admission: kc.makeApiClient(AdmissionregistrationV1Api) };
}

/** A kubeconfig that authenticates as ServiceAccount `namespace/name` with a fresh TokenRequest token. */
export async function serviceAccountKubeconfig(
  cluster: TestCluster,
  namespace: string,
  name: string,
  file: string,
  expirationSeconds = 24 * 3600,
  /** Bind the token to this pod, as the kubelet does for a pod's own token: the API server then adds the pod's node to the caller's identity. */
  boundPod?: { name: string; uid: string },
): Promise<string> {
  const { kc, core } = adminClients(cluster);
  const tr = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds, ...(boundPod ? { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', ...boundPod } } : {}) } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  const c = kc.getCurrentCluster();
  if (!c) throw new Error(`${cluster.kubeconfig} has no current cluster`);
  const caData = c.caData ?? (c.caFile ? readFileSync(c.caFile).toString('base64') : undefined);
  const user = `system:serviceaccount:${namespace}:${name}`;
  const cfg = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'cluster', cluster: { server: c.server, ...(caData ? { 'certificate-authority-data': caData } : {}) } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: 'cluster', user, namespace } }],
    'current-context': user,
  };
  writeSecretFile(file, JSON.stringify(cfg, null, 2));
  return file;
}

export interface LocalWebhook {
  port: number;
  /** https://127.0.0.1:<port> */
  baseUrl: string;
  kubeconfig: string;
  logFile: string;
  /** Parsed JSON log lines so far (non-JSON lines kept as {msg}). */
  logs: Record<string, unknown>[];
  /** The webhook's /metrics text. */
  metrics(): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  readonly process: ChildProcess;
}

export interface StartWebhookOptions {
  /** Extra environment for the webhook (e.g. KCR_LOG_LEVEL). */
  env?: Record<string, string>;
  /** kcr's entry point: src/main.ts (default) or the compiled build/src/main.js the image runs. */
  entry?: string;
  /** A command the node process is started through (`launcher… node main webhook`), e.g. the bench's memory cgroup. */
  launcher?: string[];
  readyTimeoutMs?: number;
}

function getInsecure(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { rejectUnauthorized: false, timeout: 3000 }, (res) => {
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

/** Sum of a Prometheus metric over its samples whose labels include `labels`, from /metrics text. */
export function metricSum(metricsText: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of metricsText.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(pair[1]!, pair[2]!);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) total += Number(m[3]);
  }
  return total;
}

/**
 * Starts `node src/main.ts webhook` on 127.0.0.1:<free port> as ServiceAccount kcr-webhook and
 * registers the manifests' webhook configuration at its URL. Resolves once the webhook is ready
 * and has published its CA into the configuration's caBundle.
 */
export async function startLocalWebhook(
  cluster: TestCluster,
  subset: ManifestSubset,
  opts: StartWebhookOptions = {},
): Promise<LocalWebhook> {
  const dir = join(KCR_DIR, 'webhook');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const kubeconfig = await serviceAccountKubeconfig(cluster, KCR_NAMESPACE, WEBHOOK_SERVICE_ACCOUNT, join(dir, 'kubeconfig'));
  const port = await freePort();
  const baseUrl = `https://127.0.0.1:${port}`;

  const config = subset.webhookConfigurations.find((c) => c.metadata.name === WEBHOOK_CONFIGURATION);
  if (!config) throw new Error(`manifests/ render no MutatingWebhookConfiguration ${WEBHOOK_CONFIGURATION}`);
  // Replace (not merge) so a URL or caBundle from an earlier run never lingers.
  const { admission } = adminClients(cluster);
  await admission.deleteMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION }).catch((err: unknown) => {
    if (!(err instanceof ApiException && err.code === 404)) throw err;
  });
  await admission.createMutatingWebhookConfiguration({ body: pointWebhooksAtUrl(config, baseUrl) as V1MutatingWebhookConfiguration });

  const logFile = join(KCR_DIR, 'logs', `webhook-${port}.log`);
  mkdirSync(join(KCR_DIR, 'logs'), { recursive: true });
  const certDir = mkdtempSync(join(tmpdir(), 'kcr-webhook-certs-'));
  const [command, ...prefix] = [...(opts.launcher ?? []), process.execPath];
  const child = spawn(command!, [...prefix, opts.entry ?? join(REPO_ROOT, 'src/main.ts'), 'webhook'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      KUBECONFIG: kubeconfig,
      KCR_NAMESPACE,
      KCR_LOG_LEVEL: 'debug',
      KCR_WEBHOOK_HOST: '127.0.0.1',
      KCR_WEBHOOK_PORT: String(port),
      KCR_WEBHOOK_CERT_SOURCE: 'self',
      KCR_WEBHOOK_CERT_DIR: certDir,
      KCR_WEBHOOK_CONFIGURATION: WEBHOOK_CONFIGURATION,
      KCR_WEBHOOK_EXTRA_SANS: '127.0.0.1',
      // Required; tests that restore name their own registry.
      KCR_REGISTRY: '127.0.0.1:5000',
      // Any free port, not the default 8080: other processes share this host.
      KCR_METRICS_HOST: '127.0.0.1',
      KCR_METRICS_PORT: '0',
      ...opts.env,
    },
  });
  const { logs, close } = collectChildLogs(child, logFile);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    }),
  );

  const stop = async (graceMs = 5000) => {
    if (exit === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    close();
    rmSync(certDir, { recursive: true, force: true });
  };
  const hook: LocalWebhook = {
    port,
    baseUrl,
    kubeconfig,
    logFile,
    logs,
    process: child,
    metrics: async () => (await getInsecure(`${baseUrl}/metrics`)).body,
    stop,
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  try {
    for (;;) {
      if (exit) throw new Error(`kcr webhook exited (${exit.code ?? exit.signal}); see ${logFile}`);
      if (Date.now() > deadline) throw new Error(`kcr webhook not ready within the timeout; see ${logFile}`);
      const ready = await getInsecure(`${baseUrl}/readyz`).then((r) => r.status === 200, () => false);
      if (ready && (await caBundlePublished(admission))) break;
      await sleep(200);
    }
  } catch (err) {
    await stop(1000);
    throw err;
  }
  await waitUntilApiServerCalls(cluster, hook, deadline);
  return hook;
}

/**
 * Proof that the API server reaches the webhook (its informer has the configuration with the
 * caBundle, and it trusts the serving certificate): a dry-run pod create is sent to the
 * webhook (sideEffects NoneOnDryRun) and shows up in its admissions counter.
 */
async function waitUntilApiServerCalls(cluster: TestCluster, hook: LocalWebhook, deadline: number): Promise<void> {
  const { core } = adminClients(cluster);
  const admissions = async () => metricSum(await hook.metrics(), 'kcr_webhook_admissions_total');
  for (;;) {
    const before = await admissions();
    await core.createNamespacedPod({
      namespace: 'default',
      dryRun: 'All',
      body: { metadata: { name: 'kcr-webhook-probe' }, spec: { containers: [{ name: 'probe', image: 'probe' }] } },
    });
    if ((await admissions()) > before) return;
    if (Date.now() > deadline) {
      const hint = apiserverWebhookErrors();
      throw new Error(`the API server does not call the webhook at ${hook.baseUrl}${hint ? `; kube-apiserver says: ${hint}` : ''}`);
    }
    await sleep(250);
  }
}

/** The last "failed calling webhook" line of the local API server's log, if there is one. */
function apiserverWebhookErrors(): string | undefined {
  try {
    const lines = readFileSync(join(KCR_DIR, 'logs', 'kube-apiserver.log'), 'utf8').split('\n');
    return lines.filter((l) => l.includes('Failed calling webhook') && l.includes('restore.kcr.io')).pop()?.trim();
  } catch {
    return undefined;
  }
}

/** Every webhook of kcr's configuration carries a caBundle (the webhook process published its CA). */
async function caBundlePublished(admission: AdmissionregistrationV1Api): Promise<boolean> {
  const cfg = await admission.readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION });
  const hooks = cfg.webhooks ?? [];
  return hooks.length > 0 && hooks.every((w) => (w.clientConfig.caBundle ?? '') !== '');
}
