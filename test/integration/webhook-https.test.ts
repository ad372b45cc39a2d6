// The restore webhook over real HTTPS: the same startWebhook() `kcr webhook` runs, with a
// certificate chain from certs/, and fake informer sources feeding the real index.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import type { Informer, KubernetesObject } from '@kubernetes/client-node';
import jsonpatch from 'fast-json-patch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCertificateBundle, type CertificateBundle } from '../../certs/index.ts';
import { startWebhook, type RunningWebhook } from '../../src/commands/webhook.ts';
import { MemoryClaimApi } from '../support/memory-claim-api.ts';
import { createCa, issueCert } from '../cluster/pki.ts';
import { silentLogger } from '../../src/log.ts';
import type { AdmissionReview } from '../../webhooks/admission.ts';
import type { IndexFeed } from '../../webhooks/informers.ts';
import type { IndexedKind } from '../../webhooks/restore-index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVICE = 'kcr-webhook';
const NAMESPACE = 'kcr-system';
const SERVERNAME = `${SERVICE}.${NAMESPACE}.svc`;
const RUNTIME_IMAGE = `registry.kcr.example/shop/db-0@sha256:${'a'.repeat(64)}`;

type Verb = 'add' | 'update' | 'delete' | 'change' | 'error' | 'connect';

/** An informer source the test drives: start() resolves when the test delivers the initial list. */
class FakeInformer implements Informer<KubernetesObject> {
  readonly #callbacks = new Map<Verb, Array<(arg: never) => void>>();
  #listed: (() => void) | undefined;
  starts = 0;

  on(verb: Verb, cb: (arg: never) => void): void {
    this.#callbacks.set(verb, [...(this.#callbacks.get(verb) ?? []), cb]);
  }
  off(verb: Verb, cb: (arg: never) => void): void {
    this.#callbacks.set(verb, (this.#callbacks.get(verb) ?? []).filter((c) => c !== cb));
  }
  start(): Promise<void> {
    this.starts++;
    return new Promise((resolve) => (this.#listed = resolve));
  }
  async stop(): Promise<void> {}

  /** The initial list: an add per object, then start() resolves (as ListWatch does). */
  list(objects: object[]): void {
    for (const o of objects) this.emit('add', o);
    this.#listed?.();
  }
  emit(verb: Verb, arg: unknown): void {
    for (const cb of this.#callbacks.get(verb) ?? []) (cb as (a: unknown) => void)(arg);
  }
}

const KINDS: Array<[string, IndexedKind]> = [
  ['pods', 'Pod'], ['namespaces', 'Namespace'], ['nodes', 'Node'], ['replicasets', 'ReplicaSet'], ['deployments', 'Deployment'],
  ['statefulsets', 'StatefulSet'], ['checkpoints', 'Checkpoint'], ['checkpointschedules', 'CheckpointSchedule'],
];

function fakeFeeds(): { feeds: IndexFeed[]; informers: Map<IndexedKind, FakeInformer> } {
  const informers = new Map<IndexedKind, FakeInformer>();
  const feeds = KINDS.map(([name, kind]) => {
    const informer = new FakeInformer();
    informers.set(kind, informer);
    return { name, kind, informer };
  });
  return { feeds, informers };
}

/** The API server's Checkpoints, as far as claims go. */
const claims = new MemoryClaimApi();

/** The cluster state in which db-0 (StatefulSet db, namespace shop) is restorable. */
const cluster: Partial<Record<IndexedKind, object[]>> = {
  Namespace: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', uid: 'ns-shop', labels: { 'kcr.io/restore': 'enabled' } } }],
  StatefulSet: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: 'shop', uid: 'sts-db' }, spec: {} }],
  // The node an agent labelled as able to restore (restore.kcr.io/*), of the checkpoint's architecture.
  Node: [{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1', uid: 'node-1', labels: { 'kubernetes.io/arch': 'arm64', 'restore.kcr.io/runtime': 'cri-o', 'restore.kcr.io/capable': 'true' } }, spec: {} }],
  Checkpoint: [claims.put({
    apiVersion: 'checkpoint-restore.kcr.io/v1',
    kind: 'Checkpoint',
    metadata: { name: 'db-0-redis-20261124t060000z', namespace: 'shop', uid: 'cp-1', creationTimestamp: '2026-11-24T06:00:05Z' },
    spec: {
      containerName: 'redis', checkpointTimestamp: '2026-11-24T06:00:00Z', nodeName: 'node-1',
      podName: 'db-0', podUID: 'old-db-0-uid', workload: { kind: 'StatefulSet', name: 'db' }, identity: 'db-0',
      originalImage: 'redis:7.4', architecture: 'arm64',
    },
    status: { phase: 'ImageBuilt', runtimeImage: RUNTIME_IMAGE },
  })],
};

function syncAll(informers: Map<IndexedKind, FakeInformer>): void {
  for (const [kind, informer] of informers) informer.list(cluster[kind] ?? []);
}

function fixture(name: string): AdmissionReview {
  return JSON.parse(readFileSync(`${ROOT}test/fixtures/admission/${name}.json`, 'utf8')) as AdmissionReview;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function request(port: number, ca: string, method: string, path: string, body?: string | Buffer,
  headers: Record<string, string> = { 'content-type': 'application/json' }, servername = SERVERNAME): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path, ca, servername, rejectUnauthorized: true, agent: false,
      headers: body === undefined ? {} : headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const servingConfig = {
  host: '127.0.0.1', port: 0, maxBodyBytes: 3 * 1024 * 1024, pullSecretName: 'kcr-registry', registryAuth: 'static' as const,
  excludedNamespaces: ['kube-system', NAMESPACE],
  baseImageVolumes: true,
  claimTtlSeconds: 120,
  maxInFlight: 64,
  checkpointRepositories: { registry: 'registry.kcr.example', prefix: '' },
};

let bundle: CertificateBundle;

beforeAll(() => {
  bundle = generateCertificateBundle({ serviceName: SERVICE, namespace: NAMESPACE, validityDays: 1, now: new Date() });
});

describe('kcr webhook over HTTPS, caches synced', () => {
  let webhook: RunningWebhook;
  const post = (body: string | Buffer, headers?: Record<string, string>) =>
    request(webhook.port, bundle.caCert, 'POST', '/mutate', body, headers);
  const review = async (r: AdmissionReview) => {
    const reply = await post(JSON.stringify(r));
    expect(reply.status, reply.text).toBe(200);
    return JSON.parse(reply.text) as AdmissionReview;
  };

  beforeAll(async () => {
    const { feeds, informers } = fakeFeeds();
    webhook = await startWebhook({ config: servingConfig, feeds, tls: { cert: bundle.cert, key: bundle.key }, claims,
      logger: silentLogger(), metricsListen: { host: '127.0.0.1', port: 0 } });
    syncAll(informers);
    await webhook.informers.whenSynced();
  });
  afterAll(() => webhook.close(1000));

  it('serves a chain that verifies against the generated CA for the Service name, and only for it', async () => {
    const live = await request(webhook.port, bundle.caCert, 'GET', '/livez');
    expect(live.status).toBe(200);
    const otherCa = generateCertificateBundle({ serviceName: SERVICE, namespace: NAMESPACE, validityDays: 1, now: new Date() });
    await expect(request(webhook.port, otherCa.caCert, 'GET', '/livez')).rejects.toMatchObject({ code: expect.stringMatching(/CERT|SIGNATURE/) });
    await expect(request(webhook.port, bundle.caCert, 'GET', '/livez', undefined, undefined, 'evil.example.com'))
      .rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  it('restores a replacement StatefulSet pod: same uid, JSONPatch that pins the checkpoint image and arch', async () => {
    const input = fixture('statefulset-pod-create');
    const out = await review(input);
    expect(out).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    expect(out.response?.uid).toBe(input.request!.uid);
    expect(out.response?.allowed).toBe(true);
    expect(out.response?.patchType).toBe('JSONPatch');
    const ops = JSON.parse(Buffer.from(out.response!.patch!, 'base64').toString('utf8')) as jsonpatch.Operation[];
    const patched = jsonpatch.applyPatch(structuredClone(input.request!.object), ops, true, false).newDocument as {
      metadata: { annotations: Record<string, string> };
      spec: { containers: { image: string }[]; nodeSelector: Record<string, string>; imagePullSecrets: { name: string }[] };
    };
    expect(patched.spec.containers[0]!.image).toBe(RUNTIME_IMAGE);
    expect(patched.spec.nodeSelector['kubernetes.io/arch']).toBe('arm64');
    expect(patched.spec.imagePullSecrets).toContainEqual({ name: 'kcr-registry' });
    expect(patched.metadata.annotations['kcr.io/restored-from']).toBe('db-0-redis-20261124t060000z');
  });

  it('lets a pod that did not opt in through unchanged, without a patch', async () => {
    const input = fixture('deployment-pod-create'); // namespace shop is opted in: move it to one that is not
    input.request!.namespace = 'plain';
    (input.request!.object as { metadata: { namespace: string } }).metadata.namespace = 'plain';
    const out = await review(input);
    expect(out.response).toEqual({ uid: input.request!.uid, allowed: true });
  });

  it('answers a DELETE without a patch', async () => {
    const input = fixture('statefulset-pod-delete');
    const out = await review(input);
    expect(out.response).toEqual({ uid: input.request!.uid, allowed: true });
  });

  it('rejects malformed JSON with 400 and the parser message', async () => {
    const reply = await post('{"apiVersion": "admission.k8s.io/v1", "kind": ');
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text).message).toMatch(/^request body is not valid JSON: /);
  });

  it('rejects a body that is not an AdmissionReview with 400 naming the field', async () => {
    const wrongKind = fixture('statefulset-pod-create') as unknown as Record<string, unknown>;
    wrongKind.kind = 'Pod';
    let reply = await post(JSON.stringify(wrongKind));
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text).message).toContain('kind must be "AdmissionReview", got "Pod"');

    const wrongVersion = fixture('statefulset-pod-create') as unknown as Record<string, unknown>;
    wrongVersion.apiVersion = 'admission.k8s.io/v1beta1';
    reply = await post(JSON.stringify(wrongVersion));
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text).message).toContain('apiVersion must be "admission.k8s.io/v1"');

    const noUid = fixture('statefulset-pod-create');
    delete (noUid.request as Partial<typeof noUid.request>)!.uid;
    reply = await post(JSON.stringify(noUid));
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text).message).toContain('request.uid must be a non-empty string, got nothing');

    const emptyUid = fixture('statefulset-pod-create');
    emptyUid.request!.uid = '';
    reply = await post(JSON.stringify(emptyUid));
    expect(JSON.parse(reply.text).message).toContain('request.uid must be a non-empty string, got ""');

    reply = await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }));
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text).message).toContain('request must be an object, got nothing');

    const badOp = fixture('statefulset-pod-create') as unknown as { request: Record<string, unknown> };
    badOp.request.operation = 42;
    reply = await post(JSON.stringify(badOp));
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text).message).toContain('request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got 42');
  });

  it('rejects a non-JSON content type with 415 and an empty body with 400', async () => {
    let reply = await post(JSON.stringify(fixture('statefulset-pod-create')), { 'content-type': 'text/plain' });
    expect(reply.status).toBe(415);
    expect(JSON.parse(reply.text).message).toContain('Content-Type must be application/json');
    reply = await post('', { 'content-type': 'application/json', 'content-length': '0' });
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text).message).toBe('request body is empty: expected an AdmissionReview');
  });

  it('rejects a 10 MB body with 413 and a JSON message', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 0x20);
    const reply = await post(big);
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.text).message).toBe(`request body is larger than the limit of ${3 * 1024 * 1024} bytes`);
  });

  it('rejects a chunked body (no Content-Length) that grows past the limit with 413', async () => {
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: webhook.port, method: 'POST', path: '/mutate', ca: bundle.caCert,
        servername: SERVERNAME, agent: false, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      for (let i = 0; i < 16; i++) req.write(chunk);
      req.end();
    });
    expect(reply.status).toBe(413);
  });

  it('exposes admissions by outcome and reason, the latency histogram and the index size in /metrics', async () => {
    const reply = await request(webhook.port, bundle.caCert, 'GET', '/metrics');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/plain/);
    const m = reply.text;
    expect(m).toMatch(/^kcr_webhook_admissions_total\{outcome="patched",reason="restored"\} [1-9]/m);
    expect(m).toMatch(/^kcr_webhook_admissions_total\{outcome="unchanged",reason="not-opted-in"\} 1$/m);
    expect(m).toMatch(/^kcr_webhook_admissions_total\{outcome="unchanged",reason="not-create"\} 1$/m);
    expect(m).toMatch(/^kcr_webhook_admissions_total\{outcome="error",reason="invalid-json"\} 1$/m);
    expect(m).toMatch(/^kcr_webhook_admissions_total\{outcome="error",reason="body-too-large"\} 2$/m);
    expect(m).toMatch(/^kcr_webhook_admission_duration_seconds_bucket\{le="0.00025",outcome="patched"\} \d+$/m);
    expect(m).toMatch(/^kcr_webhook_admission_duration_seconds_bucket\{le="0.05",outcome="unchanged"\} \d+$/m);
    expect(m).toMatch(/^kcr_webhook_admission_duration_seconds_count\{outcome="unchanged"\} 2$/m);
    expect(m).toMatch(/^kcr_webhook_index_objects\{kind="Checkpoint"\} 1$/m);
    expect(m).toMatch(/^kcr_webhook_index_objects\{kind="Namespace"\} 1$/m);
    // Process metrics ride along.
    expect(m).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(m).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
  });

  it('serves the same metrics in plain HTTP on its metrics port, with buckets up to the 3 s timeout and its readiness', async () => {
    const port = webhook.metricsServer!.port;
    expect(port).not.toBe(webhook.port);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    const m = await res.text();
    const tls = (await request(webhook.port, bundle.caCert, 'GET', '/metrics')).text;
    const count = (text: string) => /^kcr_webhook_admissions_total\{outcome="unchanged",reason="not-opted-in"\} (\d+)$/m.exec(text)?.[1];
    expect(count(m)).toBe('1');
    expect(count(m)).toBe(count(tls));
    expect(m).toMatch(/^kcr_webhook_admission_duration_seconds_bucket\{le="3",outcome="unchanged"\} 2$/m);
    expect(m).toMatch(/^kcr_webhook_ready 1$/m);
    expect(m).toMatch(/^process_cpu_user_seconds_total \d/m);
    // Only metrics there: the admission and health routes stay on the TLS port.
    expect((await fetch(`http://127.0.0.1:${port}/mutate`, { method: 'POST', body: '{}' })).status).toBe(405);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(404);
  });

  it('answers 404 with JSON for unknown paths', async () => {
    const reply = await request(webhook.port, bundle.caCert, 'GET', '/nope');
    expect(reply.status).toBe(404);
    expect(JSON.parse(reply.text).message).toContain('GET /nope');
  });
});

describe('readiness follows the informer caches', () => {
  it('is 503 listing unsynced caches until each delivered its list, admissions stay unchanged meanwhile; then 200', async () => {
    const { feeds, informers } = fakeFeeds();
    const webhook = await startWebhook({ config: servingConfig, feeds, tls: { cert: bundle.cert, key: bundle.key }, claims,
      logger: silentLogger(), defaultMetrics: false });
    try {
      const get = (path: string) => request(webhook.port, bundle.caCert, 'GET', path);
      expect((await get('/livez')).status).toBe(200);
      let ready = await get('/readyz');
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.text).unsynced).toEqual(KINDS.map(([name]) => name));

      // Everything but the pods: a checkpoint is known, but not whether its source pod still runs.
      for (const [kind, informer] of informers) if (kind !== 'Pod') informer.list(cluster[kind] ?? []);
      await new Promise((r) => setImmediate(r));
      ready = await get('/readyz');
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.text).unsynced).toEqual(['pods']);
      const early = await request(webhook.port, bundle.caCert, 'POST', '/mutate', JSON.stringify(fixture('statefulset-pod-create')));
      expect(JSON.parse(early.text).response.patch).toBeUndefined();

      informers.get('Pod')!.list([]);
      await webhook.informers.whenSynced();
      ready = await get('/readyz');
      expect(ready.status).toBe(200);
      const late = await request(webhook.port, bundle.caCert, 'POST', '/mutate', JSON.stringify(fixture('statefulset-pod-create')));
      expect(JSON.parse(late.text).response.patchType).toBe('JSONPatch');

      // A watch event (the pod the checkpoint came from reappears, running) changes the next answer.
      informers.get('Pod')!.emit('add', { apiVersion: 'v1', kind: 'Pod',
        metadata: { name: 'db-0', namespace: 'shop', uid: 'old-db-0-uid' }, spec: { containers: [] }, status: { phase: 'Running' } });
      const alive = await request(webhook.port, bundle.caCert, 'POST', '/mutate', JSON.stringify(fixture('statefulset-pod-create')));
      expect(JSON.parse(alive.text).response.patch).toBeUndefined();
    } finally {
      await webhook.close(1000);
    }
    expect(webhook.server.listening).toBe(false);
  });
});

describe('shutdown', () => {
  it('turns /readyz 503 and drops a stalled request at the deadline instead of hanging', async () => {
    const { feeds, informers } = fakeFeeds();
    const webhook = await startWebhook({ config: servingConfig, feeds, tls: { cert: bundle.cert, key: bundle.key }, claims,
      logger: silentLogger(), defaultMetrics: false });
    syncAll(informers);
    await webhook.informers.whenSynced();
    // A client that sends headers and half a body, then stalls.
    const stalled = new Promise<string>((resolve) => {
      const req = https.request({ host: '127.0.0.1', port: webhook.port, method: 'POST', path: '/mutate', ca: bundle.caCert,
        servername: SERVERNAME, agent: false, headers: { 'content-type': 'application/json', 'content-length': '1000' } });
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.on('response', (res) => resolve(`HTTP ${res.statusCode}`));
      req.write('{"apiVersion":');
    });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    const closing = webhook.close(500, 300);
    const draining = await request(webhook.port, bundle.caCert, 'GET', '/readyz');
    expect(draining.status).toBe(503);
    expect(JSON.parse(draining.text).status).toBe('shutting down');
    // Still answering admissions while draining.
    const late = await request(webhook.port, bundle.caCert, 'POST', '/mutate', JSON.stringify(fixture('statefulset-pod-create')));
    expect(JSON.parse(late.text).response.patchType).toBe('JSONPatch');
    await closing;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await stalled).toMatch(/ECONNRESET|socket hang up/);
    expect(webhook.server.listening).toBe(false);
  });
});

describe('kcr webhook process', () => {
  function runKcr(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [`${ROOT}src/main.ts`, 'webhook'], {
        env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
  }

  it('fails fast with the offending variable named when the config is bad', async () => {
    const { code, stderr } = await runKcr({ KCR_REGISTRY: 'r.example', KCR_WEBHOOK_PORT: 'ninety' });
    expect(code).toBe(1);
    expect(stderr).toContain('KCR_WEBHOOK_PORT must be an integer between 1 and 65535, got "ninety"');
  });

  it('refuses to start without a registry, saying what KCR_REGISTRY must name (kcr ships none to default to)', async () => {
    const { code, stderr } = await runKcr({});
    expect(code).toBe(1);
    expect(stderr).toContain('KCR_REGISTRY is not set');
    expect(stderr).toContain("the nodes' container runtime resolves and trusts");
  });

  it('fails fast when the kubeconfig does not exist', async () => {
    const { code, stderr } = await runKcr({ KCR_REGISTRY: 'r.example', KUBECONFIG: '/nonexistent/kubeconfig' });
    expect(code).toBe(1);
    expect(stderr).toContain('/nonexistent/kubeconfig');
  });
});

describe('who may call the admission endpoint, and how much at once', () => {
  it('with KCR_WEBHOOK_CLIENT_CA, only a client whose certificate that CA signed gets through the TLS handshake', async () => {
    const apiServerCa = createCa('kube-apiserver-webhook-client-ca');
    const apiServer = issueCert(apiServerCa, { subject: { cn: 'kube-apiserver' }, usage: 'client' });
    const stranger = issueCert(createCa('someone-else'), { subject: { cn: 'kube-apiserver' }, usage: 'client' });
    const { feeds, informers } = fakeFeeds();
    const webhook = await startWebhook({ config: servingConfig, feeds, tls: { cert: bundle.cert, key: bundle.key }, claims, clientCa: apiServerCa.cert,
      logger: silentLogger(), defaultMetrics: false });
    syncAll(informers);
    await webhook.informers.whenSynced();
    const call = (client?: { cert: string; key: string }) => new Promise<number | string>((resolve) => {
      const body = JSON.stringify(fixture('statefulset-pod-create'));
      const req = https.request({ host: '127.0.0.1', port: webhook.port, method: 'POST', path: '/mutate', ca: bundle.caCert, servername: SERVERNAME, agent: false,
        ...(client ? { cert: client.cert, key: client.key } : {}), headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.end(body);
    });
    try {
      expect(await call(apiServer)).toBe(200);
      // A forged review from inside the cluster network learns nothing: no handshake, no answer.
      expect(await call()).not.toBe(200);
      expect(await call(stranger)).not.toBe(200);
    } finally {
      await webhook.close(1000);
    }
  });

  it('more admissions at once than KCR_WEBHOOK_MAX_IN_FLIGHT get 429 at once (the pod starts fresh); the slot frees when one ends', async () => {
    const { feeds, informers } = fakeFeeds();
    const webhook = await startWebhook({ config: { ...servingConfig, maxInFlight: 1 }, feeds, tls: { cert: bundle.cert, key: bundle.key }, claims,
      logger: silentLogger(), defaultMetrics: false });
    syncAll(informers);
    await webhook.informers.whenSynced();
    try {
      const body = Buffer.from(JSON.stringify(fixture('statefulset-pod-create')));
      // One client holds the only slot: headers and half its body sent.
      let finish!: () => void;
      const held = new Promise<number>((resolve) => {
        const req = https.request({ host: '127.0.0.1', port: webhook.port, method: 'POST', path: '/mutate', ca: bundle.caCert, servername: SERVERNAME, agent: false,
          headers: { 'content-type': 'application/json', 'content-length': String(body.length) } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.write(body.subarray(0, 10));
        finish = () => req.end(body.subarray(10));
      });
      // Its headers are in: the handler holds the slot while it waits for the rest of the body.
      await new Promise((r) => setTimeout(r, 300));
      const refused = await request(webhook.port, bundle.caCert, 'POST', '/mutate', body);
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toBe('1');
      expect(JSON.parse(refused.text).message).toContain('more than 1 admissions at once');
      finish();
      expect(await held).toBe(200);
      expect((await request(webhook.port, bundle.caCert, 'POST', '/mutate', body)).status).toBe(200);
    } finally {
      await webhook.close(1000);
    }
  });
});
