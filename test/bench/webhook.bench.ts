// Benchmark of `kcr webhook`: the real HTTPS server (startWebhook, as the command runs it)
// with 10,000 Checkpoints and their pods indexed, driven by a load generator in a separate
// process over keep-alive HTTPS.
//   1. latency at a fixed 200 req/s for ~10 s (p50/p99) of pods that are not restored (every
//      one of them checks its identity's checkpoints: their source pods still run)
//   2. saturation throughput (32 in flight, ~5 s) of /mutate for the same pods, and of a no-op
//      express HTTPS handler returning a constant AdmissionReview, in the same run
//   3. latency at a fixed 50 req/s of pods that ARE restored, each with its claim written to a
//      real kube-apiserver (the project's local control plane: started, or reused when up)
// Last line: RESULT p50_ms=… p99_ms=… rps=… ratio_vs_noop=… restore_p50_ms=… restore_p99_ms=…
import { fork, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Informer, KubernetesObject } from '@kubernetes/client-node';
import express from 'express';
import { pino } from 'pino';
import { generateCertificateBundle } from '../../certs/index.ts';
import { startWebhook } from '../../src/commands/webhook.ts';
import { createLogger } from '../../src/log.ts';
import { GROUP, PLURALS, VERSION } from '../../src/api/types.ts';
import { kubeJson, type KubeJson } from '../../src/kube/kube-json.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeClaimApi } from '../../webhooks/checkpoint-claims.ts';
import type { IndexFeed } from '../../webhooks/informers.ts';
import { ensureClusterUp } from '../cluster/local-cluster.ts';
import { installKcr } from '../cluster/kcr-in-cluster.ts';
import type { IndexedKind } from '../../webhooks/restore-index.ts';

const SERVICE = 'kcr-webhook';
const NAMESPACE = 'kcr-system';
const SERVERNAME = `${SERVICE}.${NAMESPACE}.svc`;
const NAMESPACES = 50;
const IDENTITIES_PER_NAMESPACE = 100;
const CHECKPOINTS_PER_IDENTITY = 2; // 50 * 100 * 2 = 10,000
const RATE_RPS = Number(process.env.BENCH_RATE ?? 200);
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 10);
const SATURATION_SECONDS = Number(process.env.BENCH_SATURATION_SECONDS ?? 5);
const SATURATION_ROUNDS = Number(process.env.BENCH_SATURATION_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const IMAGE = 'ghcr.io/acme/stateful-app:1.4.2';
/** The restore phase: its own namespace, one real Checkpoint per identity in the API server. */
const CLAIM_NAMESPACE = 'bench-claims';
const CLAIM_IDENTITIES = Number(process.env.BENCH_RESTORE_IDENTITIES ?? 500);
const RESTORE_RPS = Number(process.env.BENCH_RESTORE_RATE ?? 50);
const RESTORE_SECONDS = Number(process.env.BENCH_RESTORE_SECONDS ?? 10);

// ---------------------------------------------------------------- shared shapes

interface LoadJob {
  port: number;
  ca: string;
  /** Which pods: not restored (source pods alive), or restored (source gone, a claim each). */
  pods: 'not-restored' | 'restored';
  mode: 'rate' | 'saturate';
  rps: number;
  seconds: number;
  concurrency: number;
}

interface LoadResult {
  sent: number;
  ok: number;
  failed: number;
  patched: number;
  seconds: number;
  latenciesMs: number[];
  /** Unmeasured warm-up requests sent before the phase. */
  warmup: number;
}

const nsName = (n: number) => `team-${n}`;
const stsName = (i: number) => `app-${Math.floor(i / 5)}`;
const podName = (i: number) => `${stsName(i)}-${i % 5}`;

/** A pod CREATE review as the API server sends it for a StatefulSet replacement pod. */
function podReview(uid: string, namespace: string, i: number): string {
  const name = podName(i);
  const sts = stsName(i);
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name,
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:statefulset-controller', uid: 'sa-uid', groups: ['system:serviceaccounts', 'system:authenticated'] },
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name,
          generateName: `${sts}-`,
          namespace,
          labels: { app: sts, 'apps.kubernetes.io/pod-index': String(i % 5), 'statefulset.kubernetes.io/pod-name': name, 'controller-revision-hash': `${sts}-7c9d5` },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: sts, uid: `sts-${namespace}-${sts}`, controller: true, blockOwnerDeletion: true }],
          managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: '2026-11-24T07:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': {} } } }],
        },
        spec: {
          containers: [{
            name: 'app', image: IMAGE, imagePullPolicy: 'IfNotPresent',
            ports: [{ containerPort: 8080, protocol: 'TCP' }],
            env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } }, { name: 'MODE', value: 'primary' }],
            resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } },
            volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
            terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File',
          }],
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: `data-${name}` } }, { name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }] } }],
          restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', serviceAccountName: 'default',
          hostname: name, subdomain: sts, schedulerName: 'default-scheduler', enableServiceLinks: true, preemptionPolicy: 'PreemptLowerPriority', priority: 0,
          tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
        },
        status: {},
      },
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  });
}

// ---------------------------------------------------------------- load generator (child)

async function runLoad(job: LoadJob): Promise<LoadResult> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: Math.max(job.concurrency, 8), ca: job.ca, servername: SERVERNAME });
  const bodies: Buffer[] = [];
  for (let k = 0; k < 2000; k++) {
    const uid = `00000000-0000-4000-8000-${String(k).padStart(12, '0')}`;
    if (job.pods === 'restored') {
      bodies.push(Buffer.from(podReview(uid, CLAIM_NAMESPACE, k % CLAIM_IDENTITIES)));
    } else {
      // Odd identities: the source pod still runs, so the pod is not restored.
      const i = ((k * 7919) % (IDENTITIES_PER_NAMESPACE / 2)) * 2 + 1;
      bodies.push(Buffer.from(podReview(uid, nsName(k % NAMESPACES), i)));
    }
  }
  const latenciesMs: number[] = [];
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let patched = 0;

  const one = () => new Promise<void>((resolve) => {
    const body = bodies[sent++ % bodies.length]!;
    const t0 = performance.now();
    const req = https.request({ host: '127.0.0.1', port: job.port, method: 'POST', path: '/mutate', agent,
      headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        latenciesMs.push(performance.now() - t0);
        if (res.statusCode === 200) {
          ok++;
          if (Buffer.concat(chunks).includes('"patchType"')) patched++;
        } else failed++;
        resolve();
      });
    });
    req.on('error', () => {
      failed++;
      resolve();
    });
    req.end(body);
  });

  // Warm the connections and the JIT on both sides; not measured.
  await Promise.all(Array.from({ length: Math.min(job.concurrency, 8) }, async () => { for (let k = 0; k < 50; k++) await one(); }));
  const warmup = sent;
  latenciesMs.length = 0;
  sent = ok = failed = patched = 0;

  const start = performance.now();
  const end = start + job.seconds * 1000;
  if (job.mode === 'saturate') {
    await Promise.all(Array.from({ length: job.concurrency }, async () => {
      while (performance.now() < end) await one();
    }));
  } else {
    // Open loop: request k is due at start + k/rps, whatever the answers do.
    const inflight: Promise<void>[] = [];
    const total = Math.round(job.rps * job.seconds);
    let next = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((performance.now() - start) * job.rps) / 1000) + 1);
        while (next < due) {
          next++;
          inflight.push(one());
        }
        if (next >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    await Promise.all(inflight);
  }
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  return { sent, ok, failed, patched, seconds, latenciesMs, warmup };
}

// ---------------------------------------------------------------- benchmark (parent)

/** Runs a load phase in a child process; also measures this (server) process's CPU time meanwhile. */
async function drive(job: LoadJob): Promise<LoadResult & { serverCpuMs: number }> {
  const before = process.cpuUsage();
  const result = await driveChild(job);
  const cpu = process.cpuUsage(before);
  return { ...result, serverCpuMs: (cpu.user + cpu.system) / 1000 };
}

function driveChild(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--load-generator'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m) => resolve(m as LoadResult));
    child.once('error', reject);
    child.once('exit', (code) => { if (code !== 0) reject(new Error(`load generator exited with ${code}`)); });
    child.send(job);
  });
}

class ListedInformer implements Informer<KubernetesObject> {
  readonly #adds: Array<(o: KubernetesObject) => void> = [];
  readonly #objects: object[];
  constructor(objects: object[]) {
    this.#objects = objects;
  }
  on(verb: string, cb: (o: never) => void): void {
    if (verb === 'add') this.#adds.push(cb as (o: KubernetesObject) => void);
  }
  off(): void {}
  async start(): Promise<void> {
    for (const o of this.#objects) for (const cb of this.#adds) cb(o as KubernetesObject);
  }
  async stop(): Promise<void> {}
}

/** The cluster: 50 opted-in namespaces, 20 StatefulSets x 5 replicas each, 2 checkpoints per pod identity; half the source pods still run. */
function clusterObjects(): Record<IndexedKind, object[]> {
  const objects: Record<IndexedKind, object[]> = { Checkpoint: [], Pod: [], Namespace: [], Node: [], CheckpointSchedule: [], ReplicaSet: [], Deployment: [], StatefulSet: [], PullSecretRecord: [] };
  // Seven capable CRI-O nodes (their agents labelled them), the checkpoints' runtime and architecture.
  for (let k = 0; k < 7; k++) {
    objects.Node.push({ apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${k}`, uid: `node-${k}`, labels: { 'kubernetes.io/arch': 'amd64', 'restore.kcr.io/runtime': 'cri-o', 'restore.kcr.io/capable': 'true' } }, spec: {} });
  }
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = nsName(n);
    objects.Namespace.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, uid: `ns-${n}`, labels: { 'kcr.io/restore': 'enabled' } } });
    for (let i = 0; i < IDENTITIES_PER_NAMESPACE; i++) {
      const name = podName(i);
      if (i % 5 === 0) {
        objects.StatefulSet.push({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: stsName(i), namespace: ns, uid: `sts-${n}-${stsName(i)}` }, spec: { replicas: 5 } });
      }
      const sourceUid = `pod-${n}-${name}-old`;
      for (let c = 0; c < CHECKPOINTS_PER_IDENTITY; c++) {
        const taken = new Date(Date.UTC(2026, 10, 24, 6, c * 5)).toISOString();
        objects.Checkpoint.push({
          apiVersion: 'checkpoint-restore.kcr.io/v1', kind: 'Checkpoint',
          metadata: { name: `${name}-app-${c}`, namespace: ns, uid: `cp-${n}-${name}-${c}`, creationTimestamp: taken },
          spec: { containerName: 'app', checkpointTimestamp: taken, nodeName: `node-${i % 7}`, podName: name, podUID: sourceUid,
            workload: { kind: 'StatefulSet', name: stsName(i) }, identity: name, originalImage: IMAGE, architecture: 'amd64', runtime: { name: 'cri-o', version: '1.34.0' } },
          status: { phase: 'ImageBuilt', runtimeImage: `registry.kcr.example/${ns}/${name}@sha256:${(n * 1000 + i * 10 + c).toString(16).padStart(64, '0')}` },
        });
      }
      // Odd identities: the source pod still runs (a scale-up must not clone it).
      if (i % 2 === 1) {
        objects.Pod.push({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, uid: sourceUid, creationTimestamp: '2026-11-24T05:00:00Z',
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: stsName(i), uid: `sts-${n}-${stsName(i)}`, controller: true }] },
        spec: { containers: [{ name: 'app', image: IMAGE }], nodeName: `node-${i % 7}` }, status: { phase: 'Running' } });
      }
    }
  }
  return objects;
}

async function startNoop(cert: string, key: string): Promise<https.Server> {
  const constant = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'constant', allowed: true } });
  const app = express();
  app.set('etag', false);
  app.post('/mutate', express.raw({ type: 'application/json', limit: 3 * 1024 * 1024 }), (_req, res) => {
    res.type('application/json').send(constant);
  });
  const server = https.createServer({ cert, key, keepAliveTimeout: 65_000 }, app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function merge(results: Array<LoadResult & { serverCpuMs: number }>): LoadResult & { serverCpuMs: number } {
  return results.reduce((a, b) => ({
    sent: a.sent + b.sent, ok: a.ok + b.ok, failed: a.failed + b.failed, patched: a.patched + b.patched,
    seconds: a.seconds + b.seconds, latenciesMs: a.latenciesMs.concat(b.latenciesMs), warmup: a.warmup + b.warmup,
    serverCpuMs: a.serverCpuMs + b.serverCpuMs,
  }));
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** A Checkpoint per identity of the restore phase, created in the API server (status ImageBuilt); returned as stored (with resourceVersions). */
async function realCheckpoints(api: KubeJson): Promise<object[]> {
  const base = `/apis/${GROUP}/${VERSION}/namespaces/${CLAIM_NAMESPACE}/${PLURALS.Checkpoint}`;
  await api.delete(`/api/v1/namespaces/${CLAIM_NAMESPACE}`).catch(() => {});
  for (let t = 0; t < 120; t++) {
    const gone = await api.get(`/api/v1/namespaces/${CLAIM_NAMESPACE}`).then(() => false, () => true);
    if (gone) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await api.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CLAIM_NAMESPACE } });
  const stored: object[] = new Array(CLAIM_IDENTITIES);
  const one = async (i: number) => {
    const name = podName(i);
    const taken = new Date(Date.UTC(2026, 10, 24, 6, 0)).toISOString();
    await api.create(base, {
      apiVersion: `${GROUP}/${VERSION}`, kind: 'Checkpoint',
      metadata: { name: `${name}-app-0`, namespace: CLAIM_NAMESPACE },
      spec: { containerName: 'app', checkpointTimestamp: taken, nodeName: `node-${i % 7}`, podName: name, podUID: `pod-${name}-old`,
        workload: { kind: 'StatefulSet', name: stsName(i) }, identity: name, originalImage: IMAGE, architecture: 'amd64', runtime: { name: 'cri-o', version: '1.34.0' } },
    });
    stored[i] = await api.patch(`${base}/${name}-app-0/status`, { status: { phase: 'ImageBuilt', runtimeImage: `registry.kcr.example/${CLAIM_NAMESPACE}/${name}@sha256:${i.toString(16).padStart(64, '0')}` } });
  };
  for (let i = 0; i < CLAIM_IDENTITIES; i += 16) await Promise.all(Array.from({ length: Math.min(16, CLAIM_IDENTITIES - i) }, (_, k) => one(i + k)));
  return stored;
}

async function claimWritesAlone(api: KubeJson, rps: number, seconds: number): Promise<number[]> {
  const base = `/apis/${GROUP}/${VERSION}/namespaces/${CLAIM_NAMESPACE}/${PLURALS.Checkpoint}`;
  const latencies: number[] = [];
  for (let k = 0; k < rps * seconds; k++) {
    const t0 = performance.now();
    await api.patch(`${base}/${podName(k % CLAIM_IDENTITIES)}-app-0`, { metadata: { annotations: { 'kcr.io/claim': `{"bench":${k}}` } } }, 'merge');
    latencies.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 / rps - (performance.now() - t0))));
  }
  return latencies.sort((a, b) => a - b);
}

function claimPhaseObjects(checkpoints: object[]): Partial<Record<IndexedKind, object[]>> {
  const statefulSets = new Set<string>();
  for (let i = 0; i < CLAIM_IDENTITIES; i++) statefulSets.add(stsName(i));
  return {
    Namespace: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: CLAIM_NAMESPACE, uid: 'ns-claims', labels: { 'kcr.io/restore': 'enabled' } } }],
    StatefulSet: [...statefulSets].map((sts) => ({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: sts, namespace: CLAIM_NAMESPACE, uid: `sts-${CLAIM_NAMESPACE}-${sts}` }, spec: { replicas: 5 } })),
    Checkpoint: checkpoints,
  };
}

async function main(): Promise<void> {
  const bundle = generateCertificateBundle({ serviceName: SERVICE, namespace: NAMESPACE, validityDays: 1, now: new Date() });
  // The API server the claims are written to: the project's local control plane.
  const up = await ensureClusterUp({ log: (m) => console.error(m) });
  await installKcr({ kubeconfig: up.state.kubeconfig, binDir: up.state.binDir, external: false });
  const kc = new KubeConfig();
  kc.loadFromFile(up.state.kubeconfig);
  const admin = kubeJson(kc);
  const claimObjects = claimPhaseObjects(await realCheckpoints(admin));
  const objects = clusterObjects();
  for (const [kind, list] of Object.entries(claimObjects) as [IndexedKind, object[]][]) objects[kind].push(...list);
  const feeds: IndexFeed[] = (Object.keys(objects) as IndexedKind[]).map((kind) => ({ name: kind, kind, informer: new ListedInformer(objects[kind]) }));
  // Production logging: info level (one line per restored pod), asynchronous writes.
  const logger = createLogger('webhook', 'info', pino.destination({ dest: '/dev/null', sync: false }));
  const webhook = await startWebhook({
    config: { host: '127.0.0.1', port: 0, maxBodyBytes: 3 * 1024 * 1024, pullSecretName: 'kcr-registry', registryAuth: 'static', excludedNamespaces: ['kube-system', NAMESPACE], baseImageVolumes: true, claimTtlSeconds: 120, maxInFlight: 64,
      checkpointRepositories: { registry: 'registry.kcr.example', prefix: '' } },
    feeds, tls: { cert: bundle.cert, key: bundle.key }, logger,
    // As `kcr webhook` writes them: its own timeout below the webhook configuration's.
    claims: kubeClaimApi(kubeJson(kc, { timeoutMs: 1000 }), GROUP, VERSION, PLURALS.Checkpoint),
  });
  await webhook.informers.whenSynced();
  const sizes = webhook.index.sizes();
  const noop = await startNoop(bundle.cert, bundle.key);
  const noopPort = (noop.address() as AddressInfo).port;

  const loadBefore = loadavg()[0]!.toFixed(1);
  const base = { ca: bundle.caCert, concurrency: CONCURRENCY };
  const rate = await drive({ ...base, port: webhook.port, pods: 'not-restored', mode: 'rate', rps: RATE_RPS, seconds: RATE_SECONDS, concurrency: 8 });
  // Before saturation, whose garbage would otherwise be collected during it.
  const restores = await drive({ ...base, port: webhook.port, pods: 'restored', mode: 'rate', rps: RESTORE_RPS, seconds: RESTORE_SECONDS, concurrency: 8 });
  // The claim's own cost: the same merge patch, straight to the API server at the same rate.
  const writes = await claimWritesAlone(kubeJson(kc, { timeoutMs: 1000 }), RESTORE_RPS, Math.min(RESTORE_SECONDS, 5));
  // Saturation alternates short rounds of ours and the no-op, so a burst of other load on
  // the machine hits both alike instead of one whole phase.
  const rounds: Array<Awaited<ReturnType<typeof drive>>> = [];
  const noopRounds: Array<Awaited<ReturnType<typeof drive>>> = [];
  for (let r = 0; r < SATURATION_ROUNDS; r++) {
    const seconds = SATURATION_SECONDS / SATURATION_ROUNDS;
    rounds.push(await drive({ ...base, port: webhook.port, pods: 'not-restored', mode: 'saturate', rps: 0, seconds }));
    noopRounds.push(await drive({ ...base, port: noopPort, pods: 'not-restored', mode: 'saturate', rps: 0, seconds }));
  }
  const claimMetric = await webhook.metrics.registry.getSingleMetricAsString('kcr_webhook_admissions_total');
  const ours = merge(rounds);
  const theirs = merge(noopRounds);

  await webhook.close(2000);
  await new Promise<void>((resolve) => noop.close(() => resolve()));
  // The cluster is shared with the cluster tests: leave no Checkpoints behind (their images do not exist).
  await admin.delete(`/api/v1/namespaces/${CLAIM_NAMESPACE}`).catch(() => {});

  const sorted = rate.latenciesMs.sort((a, b) => a - b);
  const oursSorted = ours.latenciesMs.sort((a, b) => a - b);
  const noopSorted = theirs.latenciesMs.sort((a, b) => a - b);
  const restoreSorted = restores.latenciesMs.sort((a, b) => a - b);
  const rps = (r: LoadResult) => r.ok / r.seconds;
  const f = (n: number, d = 2) => n.toFixed(d);

  console.log(`index: ${sizes.Checkpoint} Checkpoints, ${sizes.Pod} Pods, ${sizes.Namespace} Namespaces, ${sizes.StatefulSet} StatefulSets, ${sizes.Node} Nodes`);
  console.log(`claims written to kube-apiserver ${kc.getCurrentCluster()?.server} (${up.alreadyRunning ? 'reused' : 'started'}); ${CLAIM_IDENTITIES} real Checkpoints in ${CLAIM_NAMESPACE}`);
  console.log(`machine: ${cpus().length} CPUs, node ${process.version}, load average ${loadBefore} before, ${loadavg()[0]!.toFixed(1)} after ` +
    '(latency percentiles are only meaningful when the load average is below the CPU count)');
  console.log('');
  console.log('phase                         requests   ok      err  patched  req/s     p50 ms  p90 ms  p99 ms  max ms   server CPU us/req');
  const row = (label: string, r: LoadResult & { serverCpuMs: number }, s: number[]) =>
    console.log(`${label.padEnd(30)}${String(r.sent).padEnd(11)}${String(r.ok).padEnd(8)}${String(r.failed).padEnd(5)}${String(r.patched).padEnd(9)}` +
      `${f(rps(r), 0).padEnd(10)}${f(percentile(s, 50)).padEnd(8)}${f(percentile(s, 90)).padEnd(8)}${f(percentile(s, 99)).padEnd(8)}${f(s.at(-1) ?? NaN).padEnd(9)}` +
      `${f((r.serverCpuMs * 1000) / Math.max(1, r.sent + r.warmup), 0)}`);
  row(`/mutate @ ${RATE_RPS} req/s, ${RATE_SECONDS}s`, rate, sorted);
  row(`/mutate saturated (c=${CONCURRENCY})`, ours, oursSorted);
  row(`no-op express (c=${CONCURRENCY})`, theirs, noopSorted);
  row(`restored + claim @ ${RESTORE_RPS} req/s`, restores, restoreSorted);
  console.log(`${'claim PATCH alone (no webhook)'.padEnd(30)}${String(writes.length).padEnd(47)}${f(percentile(writes, 50)).padEnd(8)}${f(percentile(writes, 90)).padEnd(8)}${f(percentile(writes, 99)).padEnd(8)}${f(writes.at(-1) ?? NaN)}`);
  console.log('');
  console.log(claimMetric.split('\n').filter((l) => l.startsWith('kcr_webhook_admissions_total{')).join('\n'));
  if (restores.patched !== restores.ok) console.log(`WARNING: ${restores.ok - restores.patched} of the restore phase's admissions were not restored`);
  const ratio = rps(ours) / rps(theirs);
  const restoreP99 = percentile(restoreSorted, 99);
  console.log(`targets: p99 <= 5 ms at ${RATE_RPS} req/s -> ${percentile(sorted, 99) <= 5 ? 'met' : 'NOT met'}; ratio >= 0.5 -> ${ratio >= 0.5 ? 'met' : 'NOT met'}; ` +
    `restore p99 <= 25 ms -> ${restoreP99 <= 25 ? 'met' : 'NOT met'}`);
  console.log(`RESULT p50_ms=${f(percentile(sorted, 50))} p99_ms=${f(percentile(sorted, 99))} rps=${f(rps(ours), 0)} ratio_vs_noop=${f(ratio)} ` +
    `restore_p50_ms=${f(percentile(restoreSorted, 50))} restore_p99_ms=${f(restoreP99)} claim_write_p99_ms=${f(percentile(writes, 99))} restored=${restores.patched}/${restores.sent}`);
}

// ---------------------------------------------------------------- entry

if (process.argv.includes('--load-generator')) {
  process.on('message', (job: LoadJob) => {
    void runLoad(job).then((result) => {
      process.send!(result, () => process.exit(0));
    });
  });
} else {
  await main();
}
