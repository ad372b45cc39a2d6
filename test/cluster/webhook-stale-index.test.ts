// Honest readiness against the real API server: the webhook (`kcr webhook`, as
// startLocalWebhook runs it) reaches the API server for its watches through a TCP proxy this test
// can cut, while the API server still calls the webhook directly. Cut: within
// KCR_WEBHOOK_STALE_INDEX_SECONDS it stays ready; past it /readyz is 503 ("stale index") and a pod
// created meanwhile is left unchanged (reason stale-index); the proxy back, the watches reconnect
// and the webhook is ready again by itself, without a restart.
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createConnection, createServer, isIP, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NAMESPACE_LABEL } from '../../src/api/types.ts';
import { clientsFor, createNamespace, deleteNamespace, eventually, installedKcr, testCluster, type Clients } from './cluster-clients.ts';
import { KCR_NAMESPACE, metricSum, serviceAccountKubeconfig, startLocalWebhook, WEBHOOK_CONFIGURATION, WEBHOOK_SERVICE_ACCOUNT, type LocalWebhook } from './kcr-in-cluster.ts';
import { KCR_DIR } from './pki.ts';

const cluster = testCluster();
const STALE_SECONDS = 5;
let c: Clients;
let webhook: LocalWebhook | undefined;
let proxy: CuttableProxy;
let ns: string;

/** Forwards 127.0.0.1:<port> to the API server; cut() drops every connection and stops listening, restore() listens again. */
class CuttableProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  port = 0;

  constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  async listen(): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection(this.#target);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
}

function readyz(baseUrl: string): Promise<{ status: number; body: { status?: string; stale?: string[] } }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${baseUrl}/readyz`, { rejectUnauthorized: false, timeout: 3000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { status?: string; stale?: string[] } }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  const subset = installedKcr();
  c = clientsFor(cluster.kubeconfig);
  const server = new URL(c.kc.getCurrentCluster()!.server);
  proxy = new CuttableProxy({ host: server.hostname, port: Number(server.port || 443) });
  await proxy.listen();
  // The webhook's own ServiceAccount kubeconfig, its server moved to the proxy (the API server's
  // certificate is still checked, for its own name).
  const file = await serviceAccountKubeconfig(cluster, KCR_NAMESPACE, WEBHOOK_SERVICE_ACCOUNT, join(KCR_DIR, 'webhook-stale-index.kubeconfig'), 3600);
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as { clusters: Array<{ cluster: Record<string, string> }> };
  cfg.clusters[0]!.cluster.server = `https://127.0.0.1:${proxy.port}`;
  if (isIP(server.hostname) === 0) cfg.clusters[0]!.cluster['tls-server-name'] = server.hostname;
  writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
  webhook = await startLocalWebhook(cluster, subset, { env: { KUBECONFIG: file, KCR_WEBHOOK_STALE_INDEX_SECONDS: String(STALE_SECONDS) } });
  ns = await createNamespace(c.core, 'kcr-stale', { [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value });
});

afterAll(async () => {
  await webhook?.stop();
  await proxy?.cut();
  if (!c) return;
  if (ns) await deleteNamespace(c.core, ns);
  await c.admission.deleteMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION }).catch(() => {});
});

describe('webhook watch cut → not ready → recovers', () => {
  it('stays ready within the bound, is 503 and restores nothing past it, and is ready again once the watches are back', async () => {
    const hook = webhook!;
    expect((await readyz(hook.baseUrl)).status).toBe(200);

    const cutAt = Date.now();
    await proxy.cut();
    const stale = await eventually('/readyz 503 stale index', async () => {
      const r = await readyz(hook.baseUrl);
      return r.status === 503 ? r : undefined;
    }, 60_000, 200);
    // Not before the bound (the first poll after the cut still said ready, or the bound passed).
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(STALE_SECONDS * 1000);
    expect(stale.body.status).toBe('stale index');
    expect(stale.body.stale).toEqual(expect.arrayContaining(['pods', 'checkpoints']));

    // The API server still calls the webhook: the pod is admitted unchanged.
    const before = metricSum(await hook.metrics(), 'kcr_webhook_admissions_total', { reason: 'stale-index' });
    const pod = await c.core.createNamespacedPod({
      namespace: ns, dryRun: 'All',
      body: { metadata: { name: 'during-the-cut', annotations: { 'kcr.io/restore': 'true' } }, spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] } },
    });
    expect(pod.spec?.containers[0]?.image).toBe('registry.example/app:1');
    expect(metricSum(await hook.metrics(), 'kcr_webhook_admissions_total', { reason: 'stale-index' })).toBeGreaterThan(before);

    await proxy.listen();
    // The informers retry with backoff (at most 30 s apart): ready again without a restart.
    await eventually('/readyz 200 again', async () => ((await readyz(hook.baseUrl)).status === 200 ? true : undefined), 90_000, 500);
    expect(hook.process.exitCode).toBeNull();
    // The line is written as /readyz answers; the log file is read a moment later.
    const msgs = await eventually('the log to say the index is current again', async () => {
      const m = hook.logs.map((l) => String(l.msg));
      return m.includes('restore index current again: every watch is connected') ? m : undefined;
    }, 10_000, 200);
    expect(msgs).toContain('restore index is stale: not ready and no restores until the watches reconnect');
  });
});
