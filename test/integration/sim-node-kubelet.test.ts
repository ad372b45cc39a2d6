// The simulated kubelet endpoint over real TLS on its own loopback IP: client-certificate
// authentication, kubelet-style authorization answers, and the checkpoint API's status codes
// and bodies (what the kubelet's server.go writes).
import { request } from 'node:https';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.ts';
import { createCa, issueCert, type CertAndKey } from '../cluster/pki.ts';
import { readCheckpointArchive, writeCheckpointArchive } from '../cluster/sim-node/archive.ts';
import { checkpointArchiveName } from '../cluster/sim-node/archive-name.ts';
import { allowListAuthorizer, kubeletRequestAttributes } from '../cluster/sim-node/kubelet-auth.ts';
import { parseTimeoutParam, startKubeletServer, type KubeletServer } from '../cluster/sim-node/kubelet-server.ts';

const IP = '127.0.0.21';
let dir: string;
let clientCa: CertAndKey;
let kubeletCa: CertAndKey;
let apiserverClient: CertAndKey;
let otherUser: CertAndKey;
let strangerCa: CertAndKey;
let stranger: CertAndKey;
let server: KubeletServer;
let failNext = false;
const calls: { ns: string; pod: string; container: string; timeout: number }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kcr-sim-kubelet-'));
  clientCa = createCa('test-cluster-ca');
  kubeletCa = createCa('test-kubelet-ca');
  strangerCa = createCa('someone-else');
  apiserverClient = issueCert(clientCa, { subject: { cn: 'kube-apiserver-kubelet-client' }, usage: 'client' });
  otherUser = issueCert(clientCa, { subject: { cn: 'jane', o: ['developers'] }, usage: 'client' });
  stranger = issueCert(strangerCa, { subject: { cn: 'kube-apiserver-kubelet-client' }, usage: 'client' });
  const serving = issueCert(kubeletCa, { subject: { cn: 'system:node:n1', o: ['system:nodes'] }, usage: 'server', ips: [IP], dnsNames: ['n1'] });
  server = await startKubeletServer({
    nodeName: 'n1',
    host: IP,
    port: 0,
    tls: { cert: serving.cert, key: serving.key, clientCa: clientCa.cert },
    authorizer: allowListAuthorizer(['kube-apiserver-kubelet-client']),
    logger: silentLogger(),
    handlers: {
      find: (ns, pod, c) => (ns === 'shop' && pod === 'web-0' ? (c === 'counter' ? 'ok' : 'no-container') : 'no-pod'),
      async checkpoint(ns, pod, container, timeout) {
        calls.push({ ns, pod, container, timeout });
        if (failNext) {
          failNext = false;
          return { kind: 'failed', reason: 'rpc error: code = Unknown desc = criu dump failed' };
        }
        const at = new Date();
        const path = join(dir, checkpointArchiveName(pod, ns, container, at));
        await writeCheckpointArchive(path, {
          containerId: 'd'.repeat(64), containerName: container, podName: pod, namespace: ns, podUid: 'u', image: 'i:1', imageRef: 'i@sha256:' + '0'.repeat(64),
          rootfsImageName: 'i:1', podAnnotations: {}, podLabels: {}, args: [], env: [], createdAt: at, checkpointedAt: at,
          state: { counter: 7, startedAt: at.toISOString() }, memoryBytes: 8192,
        });
        return { kind: 'ok', path };
      },
      state: (ns, pod, c) => (ns === 'shop' && pod === 'web-0' && c === 'counter' ? { kind: 'ok', state: { counter: 7, startedAt: '2026-11-24T07:00:00.000Z' } } : { kind: 'no-pod' }),
      pods: () => ({ kind: 'PodList', items: [] }),
    },
  });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  body: string;
}

function call(method: string, path: string, client?: CertAndKey, ca: string = kubeletCa.cert): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: IP, port: server.port, method, path, ca, ...(client ? { cert: client.cert, key: client.key } : {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('kubelet checkpoint endpoint over TLS', () => {
  it('serves a certificate for the node IP signed by the kubelet CA (the API server verifies it)', async () => {
    await expect(call('GET', '/healthz', apiserverClient)).resolves.toEqual({ status: 200, body: 'ok' });
    await expect(call('GET', '/healthz', apiserverClient, strangerCa.cert)).rejects.toThrow();
  });

  it('200 with items naming the archive; the archive exists with mode 0600 and holds the state', async () => {
    const r = await call('POST', '/checkpoint/shop/web-0/counter?timeout=30', apiserverClient);
    expect(r.status).toBe(200);
    const items = (JSON.parse(r.body) as { items: string[] }).items;
    expect(items).toHaveLength(1);
    expect(items[0]).toMatch(new RegExp(`^${dir}/checkpoint-web-0_shop-counter-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\.tar$`));
    expect((await stat(items[0]!)).mode & 0o777).toBe(0o600);
    expect((await readCheckpointArchive(await readFile(items[0]!))).state.counter).toBe(7);
    expect(calls.at(-1)).toEqual({ ns: 'shop', pod: 'web-0', container: 'counter', timeout: 30 });
  });

  it('missing timeout means the runtime default (0); the last of several values wins', async () => {
    expect((await call('POST', '/checkpoint/shop/web-0/counter', apiserverClient)).status).toBe(200);
    expect(calls.at(-1)!.timeout).toBe(0);
    expect((await call('POST', '/checkpoint/shop/web-0/counter?timeout=5&timeout=9', apiserverClient)).status).toBe(200);
    expect(calls.at(-1)!.timeout).toBe(9);
  });

  it('404 for an unknown pod, an unknown container and an unparsable timeout, with the kubelet bodies', async () => {
    const before = calls.length;
    expect(await call('POST', '/checkpoint/shop/nope/counter', apiserverClient)).toEqual({ status: 404, body: 'pod does not exist' });
    expect(await call('POST', '/checkpoint/shop/web-0/sidecar', apiserverClient)).toEqual({ status: 404, body: 'container sidecar does not exist' });
    expect(await call('POST', '/checkpoint/shop/web-0/counter?timeout=ten', apiserverClient)).toEqual({ status: 404, body: 'cannot parse value of timeout parameter' });
    expect(calls.length).toBe(before); // nothing was checkpointed
  });

  it('500 when the runtime fails', async () => {
    failNext = true;
    const r = await call('POST', '/checkpoint/shop/web-0/counter', apiserverClient);
    expect(r).toEqual({ status: 500, body: 'checkpointing of shop/web-0/counter failed (rpc error: code = Unknown desc = criu dump failed)' });
  });

  it('401 without a client certificate or with one from another CA', async () => {
    expect(await call('POST', '/checkpoint/shop/web-0/counter')).toEqual({ status: 401, body: 'Unauthorized' });
    expect(await call('POST', '/checkpoint/shop/web-0/counter', stranger)).toEqual({ status: 401, body: 'Unauthorized' });
  });

  it('403 with the kubelet message for an authenticated user without nodes/checkpoint', async () => {
    expect(await call('POST', '/checkpoint/shop/web-0/counter', otherUser)).toEqual({
      status: 403,
      body: 'Forbidden (user=jane, verb=create, resource=nodes, subresource(s)=[checkpoint])\n',
    });
  });

  it('serves the app state', async () => {
    const r = await call('GET', '/state/shop/web-0/counter', apiserverClient);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ counter: 7 });
    expect((await call('GET', '/state/shop/other/counter', apiserverClient)).status).toBe(404);
  });

  it('only POST checkpoints', async () => {
    expect((await call('GET', '/checkpoint/shop/web-0/counter', apiserverClient)).status).toBe(405);
  });
});

describe('kubelet request attributes', () => {
  it('maps paths and methods as the kubelet does', () => {
    expect(kubeletRequestAttributes('POST', '/checkpoint/a/b/c', 'n1')).toMatchObject({ verb: 'create', resource: 'nodes', subresource: 'checkpoint', name: 'n1' });
    expect(kubeletRequestAttributes('GET', '/state/a/b/c', 'n1')).toMatchObject({ verb: 'get', subresource: 'proxy' });
    expect(kubeletRequestAttributes('GET', '/stats/summary', 'n1').subresource).toBe('stats');
    expect(kubeletRequestAttributes('GET', '/checkpointx', 'n1').subresource).toBe('proxy');
  });

  it('parses timeout like strconv.ParseInt', () => {
    expect(parseTimeoutParam([])).toBe(0);
    expect(parseTimeoutParam(['12'])).toBe(12);
    expect(parseTimeoutParam(['-3'])).toBe(-3);
    expect(parseTimeoutParam(['1.5'])).toBeUndefined();
    expect(parseTimeoutParam([''])).toBeUndefined();
    expect(parseTimeoutParam(['9'.repeat(30)])).toBeUndefined();
  });
});
