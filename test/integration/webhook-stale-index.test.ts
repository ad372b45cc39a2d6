// Honest readiness, end to end: the webhook's real informers (kubeIndexFeeds: ProjectedInformer)
// against a small API server over HTTP that the test can cut. Cut,
// the webhook stays ready within KCR_WEBHOOK_STALE_INDEX_SECONDS, then answers /readyz 503 and
// restores nothing (stale-index); once the API server is back the watches reconnect and it
// restores again, by itself.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCertificateBundle, type CertificateBundle } from '../../certs/index.ts';
import { startWebhook, type RunningWebhook } from '../../src/commands/webhook.ts';
import { silentLogger } from '../../src/log.ts';
import { kubeIndexFeeds } from '../../webhooks/informers.ts';
import { ProjectedInformer } from '../../src/kube/projected-informer.ts';
import { projectIndexPod } from '../../webhooks/index-projections.ts';
import { MemoryClaimApi } from '../support/memory-claim-api.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVERNAME = 'kcr-webhook.kcr-system.svc';
const claims = new MemoryClaimApi();

/** The cluster in which the fixture's db-0 (StatefulSet db, namespace shop) is restorable. */
const lists: Record<string, object[]> = {
  '/api/v1/namespaces': [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', uid: 'ns-shop', resourceVersion: '1', labels: { 'kcr.io/restore': 'enabled' } } }],
  '/apis/apps/v1/statefulsets': [{ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: 'shop', uid: 'sts-db', resourceVersion: '1' }, spec: {} }],
  '/api/v1/nodes': [{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1', uid: 'node-1', resourceVersion: '1', labels: { 'kubernetes.io/arch': 'arm64', 'restore.kcr.io/runtime': 'cri-o', 'restore.kcr.io/capable': 'true' } }, spec: {} }],
  '/apis/checkpoint-restore.kcr.io/v1/checkpoints': [claims.put({
    apiVersion: 'checkpoint-restore.kcr.io/v1', kind: 'Checkpoint',
    metadata: { name: 'db-0-redis-20261124t060000z', namespace: 'shop', uid: 'cp-1', creationTimestamp: '2026-11-24T06:00:05Z' },
    spec: {
      containerName: 'redis', checkpointTimestamp: '2026-11-24T06:00:00Z', nodeName: 'node-1', podName: 'db-0', podUID: 'old-db-0-uid',
      workload: { kind: 'StatefulSet', name: 'db' }, identity: 'db-0', originalImage: 'redis:7.4', architecture: 'arm64',
    },
    status: { phase: 'ImageBuilt', runtimeImage: `registry.kcr.example/shop/db-0@sha256:${'a'.repeat(64)}` },
  })],
};

/** Lists and (silent, open) watches on every path the webhook's informers use; `cut()` drops it all and stops listening. */
class FakeApiServer {
  readonly #server = http.createServer((req, res) => this.#serve(req, res));
  readonly #sockets = new Set<Socket>();
  readonly #open = new Set<http.ServerResponse>();
  port = 0;
  watches = 0;

  constructor() {
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  #serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('watch') === 'true') {
      this.watches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      this.#open.add(res);
      res.on('close', () => this.#open.delete(res));
      return; // open until ended or cut
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '10' }, items: lists[url.pathname] ?? [] }));
  }

  async listen(port = 0): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  /** Ends every open watch normally, as the API server does at its timeout. */
  endWatches(): void {
    for (const res of this.#open) res.end();
  }

  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
}

function request(port: number, ca: string, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path, ca, servername: SERVERNAME, agent: false,
      headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function until(what: string, cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function kubeconfig(port: number): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node speaks plain HTTP only with skipTLSVerify (there is no TLS to verify).
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'webhook-token' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

describe("ProjectedInformer's connection signal", () => {
  it('is connected while a watch stream is open: a watch the server ends is back at once, one it cannot reach is not', async () => {
    const api = new FakeApiServer();
    await api.listen();
    const informer = new ProjectedInformer({ kc: kubeconfig(api.port), path: '/api/v1/pods', project: projectIndexPod });
    const seen: boolean[] = [];
    informer.onConnection((up) => seen.push(up));
    const errors: unknown[] = [];
    informer.on('error', (e) => errors.push(e));
    try {
      await informer.start();
      await until('connected', async () => seen.length >= 1);
      expect(seen).toEqual([true]);
      api.endWatches();
      await until('reconnected', async () => seen.length >= 3);
      expect(seen.slice(0, 3)).toEqual([true, false, true]);
      expect(errors).toEqual([]);
      await api.cut();
      await until('seen down', async () => seen.at(-1) === false && errors.length > 0);
    } finally {
      await informer.stop();
      await api.cut().catch(() => undefined);
    }
  });
});

describe('webhook readiness follows its watches (KCR_WEBHOOK_STALE_INDEX_SECONDS)', () => {
  const api = new FakeApiServer();
  let bundle: CertificateBundle;
  let webhook: RunningWebhook;
  // Staleness is read from this clock; the informers' backoff runs in real time.
  let offsetMs = 0;
  const review = readFileSync(`${ROOT}test/fixtures/admission/statefulset-pod-create.json`, 'utf8');

  beforeAll(async () => {
    await api.listen();
    bundle = generateCertificateBundle({ serviceName: 'kcr-webhook', namespace: 'kcr-system', validityDays: 1, now: new Date() });
    const kc = kubeconfig(api.port);
    webhook = await startWebhook({
      config: {
        host: '127.0.0.1', port: 0, maxBodyBytes: 3 * 1024 * 1024, maxInFlight: 64, pullSecretName: 'kcr-registry', registryAuth: 'static',
        excludedNamespaces: ['kube-system', 'kcr-system'], baseImageVolumes: true, claimTtlSeconds: 120,
        checkpointRepositories: { registry: 'registry.kcr.example', prefix: '' }, staleIndexSeconds: 30,
      },
      feeds: kubeIndexFeeds(kc), tls: { cert: bundle.cert, key: bundle.key }, claims, logger: silentLogger(), defaultMetrics: false,
      clock: () => new Date(Date.now() + offsetMs), backoff: { initialMs: 50, maxMs: 200 },
    });
    await webhook.informers.whenSynced();
  });
  afterAll(async () => {
    await webhook?.close(1000);
    await api.cut().catch(() => undefined);
  });

  it('cut: ready within the bound, then 503 and no restores (stale-index); back: ready and restoring, by itself', async () => {
    const readyz = async () => {
      const r = await request(webhook.port, bundle.caCert, 'GET', '/readyz');
      return { status: r.status, body: JSON.parse(r.text) as { status: string; stale?: string[] } };
    };
    const mutate = async () => JSON.parse((await request(webhook.port, bundle.caCert, 'POST', '/mutate', review)).text) as { response: { patch?: string } };
    await until('every watch open', async () => api.watches >= 8);
    expect((await readyz()).status).toBe(200);

    await api.cut();
    // The watches end at once (and their restarts fail); within the bound nothing changes.
    await until('the informers noticed', async () => webhook.informers.connections().every((c) => !c.connected));
    offsetMs += 29_000;
    expect((await readyz()).status).toBe(200);
    offsetMs += 2000;
    const stale = await readyz();
    expect(stale.status).toBe(503);
    expect(stale.body.status).toBe('stale index');
    expect([...(stale.body.stale ?? [])].sort()).toEqual(['checkpoints', 'checkpointschedules', 'deployments', 'namespaces', 'nodes', 'pods', 'replicasets', 'statefulsets']);
    expect((await mutate()).response.patch).toBeUndefined();
    const metrics = (await request(webhook.port, bundle.caCert, 'GET', '/metrics')).text;
    expect(metrics).toMatch(/^kcr_webhook_admissions_total\{outcome="unchanged",reason="stale-index"\} 1$/m);
    expect(claims.patches).toBe(0);

    await api.listen(api.port);
    await until('ready again', async () => (await readyz()).status === 200);
    expect(webhook.informers.stale()).toEqual([]);
    expect((await mutate()).response.patch).toBeDefined();
  });
});
