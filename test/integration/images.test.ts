// Pushing checkpoint archives into a REAL registry (Debian's docker-registry), read back with an
// independent client (Debian's skopeo).
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointImageStore } from '../../src/images/checkpoint-image-store.ts';
import { DigestCache } from '../../src/images/digest-cache.ts';
import { HashingStream } from '../../src/images/hashing-stream.ts';
import { createHttpTransport, type HttpTransport } from '../../src/images/http-transport.ts';
import { pushCheckpointImage, type PushCheckpointInput } from '../../src/images/push-checkpoint-image.ts';
import { RegistryClient } from '../../src/images/registry-client.ts';
import { endpointFor, parseInsecureRegistries } from '../../src/images/registry-endpoint.ts';
import { RegistryError } from '../../src/images/registry-error.ts';
import { repositoryFor, tagFor } from '../../src/images/repository-name.ts';
import { startRegistry, type RegistryServer } from '../support/registry.ts';

const run = promisify(execFile);
const MiB = 1 << 20;

let dir: string;
let archive: string;
let archiveDigest: string;

/** A kubelet-like checkpoint archive: a tar with a few MiB of random (incompressible) pages. */
async function writeArchive(path: string, pagesBytes: number): Promise<void> {
  const pack = tar.pack();
  const out = pipeline(pack, createWriteStream(path));
  pack.entry({ name: 'config.dump' }, JSON.stringify({ id: 'abc', name: 'redis' }));
  pack.entry({ name: 'spec.dump' }, JSON.stringify({ annotations: {} }));
  pack.entry({ name: 'checkpoint/pages-1.img' }, randomBytes(pagesBytes));
  pack.entry({ name: 'rootfs-diff.tar' }, randomBytes(64 * 1024));
  pack.finalize();
  await out;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

function input(overrides: Partial<PushCheckpointInput> = {}): PushCheckpointInput {
  const createdAt = new Date('2026-11-24T08:00:00Z');
  return {
    archivePath: archive,
    repository: repositoryFor({ prefix: 'kcr', namespace: 'shop', identity: 'cache-0' }),
    tag: tagFor('redis', createdAt),
    architecture: 'amd64',
    container: 'redis',
    pod: 'cache-0',
    namespace: 'shop',
    identity: 'cache-0',
    originalImage: 'docker.io/library/redis:7.4',
    createdAt,
    ...overrides,
  };
}

/** Wraps a transport, recording `METHOD path` of every request. */
function counting(inner: HttpTransport): HttpTransport & { calls: string[] } {
  const calls: string[] = [];
  const t = async (req: Parameters<HttpTransport>[0]) => {
    calls.push(`${req.method} ${new URL(req.url).pathname}`);
    return inner(req);
  };
  return Object.assign(t, { calls });
}

const plainClient = (reg: RegistryServer, extra: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}) =>
  new RegistryClient({ endpoint: endpointFor(reg.host, parseInsecureRegistries(`http://${reg.host}`)), ...extra });

async function caught(p: Promise<unknown>): Promise<RegistryError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RegistryError) return err;
    throw err;
  }
  throw new Error('expected a RegistryError');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kcr-images-test-'));
  archive = join(dir, 'checkpoint-cache-0_shop-redis-2026-11-24T08:00:00Z.tar');
  await writeArchive(archive, 6 * MiB);
  archiveDigest = await sha256File(archive);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('push to an open registry', () => {
  let reg: RegistryServer;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('stores an image skopeo reads, with the restore annotations and the archive as its layer', async () => {
    const client = plainClient(reg);
    const pushed = await pushCheckpointImage(client, input());
    client.close();

    expect(pushed.layerDigest).toBe(archiveDigest);
    expect(pushed.reference).toBe(`${reg.host}/kcr/shop/cache-0@${pushed.manifestDigest}`);

    const ref = `docker://${reg.host}/${pushed.repository}:${pushed.tag}`;
    const inspected = JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', ref])).stdout) as {
      Digest: string;
      Architecture: string;
      Os: string;
      Layers: string[];
    };
    expect(inspected.Digest).toBe(pushed.manifestDigest);
    expect(inspected.Architecture).toBe('amd64');
    expect(inspected.Os).toBe('linux');
    expect(inspected.Layers).toEqual([archiveDigest]);

    const raw = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', ref])).stdout) as {
      mediaType: string;
      layers: { mediaType: string; digest: string; size: number }[];
      annotations: Record<string, string>;
    };
    expect(raw.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(raw.layers).toEqual([{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: archiveDigest, size: pushed.sizeBytes }]);
    expect(raw.annotations).toMatchObject({
      'io.kubernetes.cri-o.annotations.checkpoint.name': 'redis',
      'org.criu.checkpoint.container.name': 'redis',
      'org.criu.checkpoint.rootfsImageName': 'docker.io/library/redis:7.4',
      'kcr.io/pod': 'cache-0',
      'kcr.io/namespace': 'shop',
      'kcr.io/identity': 'cache-0',
      'org.opencontainers.image.created': '2026-11-24T08:00:00.000Z',
    });

    // The pull reference by digest resolves too.
    await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${pushed.reference}`]);
  });

  it('skips the layer upload when the same archive is pushed again', async () => {
    const transport = counting(createHttpTransport());
    const client = plainClient(reg, { transport });
    const cache = new DigestCache();
    const first = await pushCheckpointImage(client, input({ tag: 'first' }), { digestCache: cache });
    const firstCalls = transport.calls.length;
    const second = await pushCheckpointImage(client, input({ tag: 'second' }), { digestCache: cache });
    const secondCalls = transport.calls.slice(firstCalls);

    expect(first.layerDigest).toBe(archiveDigest);
    expect(second.layerSkipped).toBe(true);
    expect(second.layerDigest).toBe(archiveDigest);
    expect(transport.calls.slice(0, firstCalls).filter((c) => c.startsWith('PATCH'))).toHaveLength(1);
    expect(secondCalls.filter((c) => c.startsWith('PATCH') || c.startsWith('POST'))).toEqual([]);
    expect(secondCalls).toContain(`HEAD /v2/kcr/shop/cache-0/blobs/${archiveDigest}`);
    expect(await client.manifestDigest('kcr/shop/cache-0', 'second')).toBe(second.manifestDigest);
  });

  it('waits for the source to end before completing, even when the registry has every byte earlier', async () => {
    // The registry answers the PATCH as soon as Content-Length bytes arrived; a file stream only
    // ends after one more (empty) read. The digest must not be taken before that.
    const bytes = randomBytes(3 * MiB);
    const slowEof = new Readable({ read() {} });
    slowEof.push(bytes);
    setTimeout(() => slowEof.push(null), 300);
    const hashing = new HashingStream();
    const body = slowEof.pipe(hashing);
    const client = plainClient(reg);
    await client.pushBlobStream('kcr/shop/slow-eof', body, () => hashing.digest, () => hashing.bytes, bytes.length);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    expect(hashing.digest).toBe(digest);
    expect(await client.blobExists('kcr/shop/slow-eof', digest)).toBe(true);
    client.close();
  });

  it('gzips the layer on request, keeping the uncompressed digest as diff_id', async () => {
    const client = plainClient(reg);
    const pushed = await pushCheckpointImage(client, input({ tag: 'gz', compression: 'gzip' }));
    client.close();
    expect(pushed.diffId).toBe(archiveDigest);
    expect(pushed.layerDigest).not.toBe(archiveDigest);
    const ref = `docker://${reg.host}/${pushed.repository}:gz`;
    const raw = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', ref])).stdout) as {
      layers: { mediaType: string; digest: string }[];
    };
    expect(raw.layers[0]).toMatchObject({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: pushed.layerDigest });
    const config = JSON.parse((await run('skopeo', ['inspect', '--config', '--tls-verify=false', ref])).stdout) as {
      rootfs: { diff_ids: string[] };
    };
    expect(config.rootfs.diff_ids).toEqual([archiveDigest]);
  });

  it('deletes a manifest by digest, and deleting it again is not an error', async () => {
    const client = plainClient(reg);
    const pushed = await pushCheckpointImage(client, input({ repository: 'kcr/shop/doomed', tag: 'x' }));
    expect(await client.deleteManifest(pushed.repository, pushed.manifestDigest)).toBe('deleted');
    expect(await client.manifestDigest(pushed.repository, pushed.manifestDigest)).toBeUndefined();
    await expect(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${pushed.reference}`])).rejects.toThrow();
    expect(await client.deleteManifest(pushed.repository, pushed.manifestDigest)).toBe('absent');
    client.close();
  });

  it('fails permanently, naming the file, when the archive is missing', async () => {
    const client = plainClient(reg);
    const err = await caught(pushCheckpointImage(client, input({ archivePath: join(dir, 'nope.tar') })));
    expect(err.kind).toBe('source');
    expect(err.transient).toBe(false);
    expect(err.message).toContain('nope.tar');
    client.close();
  });
});

describe('registry outages', () => {
  it('reports an unreachable registry as transient', async () => {
    const reg = await startRegistry();
    await reg.stop();
    const client = plainClient(reg);
    const err = await caught(pushCheckpointImage(client, input()));
    expect(err.kind).toBe('unreachable');
    expect(err.transient).toBe(true);
    expect(err.message).toContain(reg.host);
    client.close();
  });

  it('registry killed mid-upload: transient error, no manifest; a retry then succeeds', async () => {
    const reg = await startRegistry();
    try {
      const big = join(dir, 'big.tar');
      await writeArchive(big, 32 * MiB);
      const inner = createHttpTransport();
      let killedAfter = 0;
      // Kill the registry once 4 MiB of the layer have gone out, then keep streaming.
      const killing: HttpTransport = async (req) => {
        if (req.method !== 'PATCH' || !(req.body instanceof Readable)) return inner(req);
        const src = req.body;
        let sent = 0;
        const gate = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            sent += chunk.length;
            if (killedAfter === 0 && sent >= 4 * MiB) {
              killedAfter = sent;
              reg.pause().then(() => cb(null, chunk), cb);
            } else cb(null, chunk);
          },
        });
        src.on('error', (e) => gate.destroy(e));
        gate.on('close', () => src.destroy());
        src.pipe(gate);
        return inner({ ...req, body: gate });
      };
      const client = plainClient(reg, { transport: killing });
      const err = await caught(pushCheckpointImage(client, input({ archivePath: big, repository: 'kcr/shop/outage', tag: 't1' })));
      expect(killedAfter).toBeGreaterThanOrEqual(4 * MiB);
      expect(err.transient).toBe(true);
      expect(err.kind).toBe('unreachable');

      await reg.resume();
      const retry = plainClient(reg);
      expect(await retry.manifestDigest('kcr/shop/outage', 't1')).toBeUndefined();
      const pushed = await pushCheckpointImage(retry, input({ archivePath: big, repository: 'kcr/shop/outage', tag: 't1' }));
      expect(pushed.layerDigest).toBe(await sha256File(big));
      expect(await retry.manifestDigest('kcr/shop/outage', 't1')).toBe(pushed.manifestDigest);
      retry.close();
      inner.close();
    } finally {
      await reg.stop();
    }
  });
});

describe('Basic auth (htpasswd)', () => {
  const password = 'correct-horse-battery-staple';
  let reg: RegistryServer;
  beforeAll(async () => {
    reg = await startRegistry({ auth: { username: 'kcr', password } });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('pushes with the right credentials', async () => {
    const client = plainClient(reg, { credentials: { username: 'kcr', password } });
    const pushed = await pushCheckpointImage(client, input());
    client.close();
    const { stdout } = await run('skopeo', [
      'inspect', '--raw', '--tls-verify=false', '--creds', `kcr:${password}`, `docker://${pushed.reference}`,
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ layers: [{ digest: archiveDigest }] });
  });

  it('refuses wrong credentials permanently, naming registry and repository but not the password', async () => {
    const wrong = 'wrong-password-do-not-print';
    const client = plainClient(reg, { credentials: { username: 'kcr', password: wrong } });
    const err = await caught(pushCheckpointImage(client, input()));
    client.close();
    expect(err.kind).toBe('unauthorized');
    expect(err.transient).toBe(false);
    expect(err.status).toBe(401);
    expect(err.message).toContain(reg.host);
    expect(err.message).toContain('kcr/shop/cache-0');
    const everything = `${err.message} ${String(err.stack)} ${JSON.stringify(err)}`;
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain(Buffer.from(`kcr:${wrong}`).toString('base64'));
  });

  it('refuses a push without credentials', async () => {
    const client = plainClient(reg);
    const err = await caught(pushCheckpointImage(client, input()));
    client.close();
    expect(err.kind).toBe('unauthorized');
  });
});

describe('TLS', () => {
  let reg: RegistryServer;
  let ca: string;
  beforeAll(async () => {
    const certDir = join(dir, 'tls');
    await run('mkdir', ['-p', certDir]);
    await run('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=kcr-test-registry',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'),
    ]);
    const { readFile } = await import('node:fs/promises');
    ca = await readFile(join(certDir, 'cert.pem'), 'utf8');
    reg = await startRegistry({ tls: { cert: ca, key: await readFile(join(certDir, 'key.pem'), 'utf8') } });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('verifies the certificate by default and fails permanently on an untrusted one', async () => {
    const client = new RegistryClient({ endpoint: endpointFor(reg.host) });
    const err = await caught(pushCheckpointImage(client, input()));
    client.close();
    expect(err.kind).toBe('tls');
    expect(err.transient).toBe(false);
  });

  it('pushes when the CA is trusted, or when the registry is listed as insecure', async () => {
    const trusted = new RegistryClient({ endpoint: endpointFor(reg.host, [], ca) });
    expect((await pushCheckpointImage(trusted, input({ tag: 'trusted' }))).layerDigest).toBe(archiveDigest);
    trusted.close();
    const insecure = new RegistryClient({ endpoint: endpointFor(reg.host, parseInsecureRegistries(reg.host)) });
    expect((await pushCheckpointImage(insecure, input({ tag: 'insecure' }))).layerDigest).toBe(archiveDigest);
    insecure.close();
  });
});

// No token-auth registry is packaged in Debian, so this puts a small token gate in front of the
// real registry: it answers 401 with a Bearer challenge, serves the realm (checking Basic
// credentials) and forwards authorised requests to docker-registry unchanged.
describe('Bearer token auth', () => {
  let reg: RegistryServer;
  let gate: Server;
  let gateHost: string;
  const tokenRequests: string[] = [];
  const issued = new Map<string, string>(); // token -> scope

  beforeAll(async () => {
    reg = await startRegistry();
    gate = createServer((req, res) => {
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      if (url.pathname === '/token') {
        tokenRequests.push(url.searchParams.getAll('scope').join(' '));
        if (req.headers.authorization !== `Basic ${Buffer.from('robot:t0ken-pass').toString('base64')}`) {
          res.writeHead(401).end('{"details":"bad credentials"}');
          return;
        }
        const token = randomBytes(16).toString('hex');
        issued.set(token, url.searchParams.getAll('scope').join(' '));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
        return;
      }
      const repo = /^\/v2\/(.+?)\/(blobs|manifests)\//.exec(url.pathname)?.[1];
      const scope = repo ? `repository:${repo}:pull,push` : '';
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token || !issued.has(token) || (repo && !issued.get(token)!.includes(`repository:${repo}:`))) {
        res
          .writeHead(401, {
            'www-authenticate': `Bearer realm="http://${gateHost}/token",service="kcr-test",scope="${scope}"`,
            'content-type': 'application/json',
          })
          .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
      const upstream = httpRequest(
        `${reg.url}${req.url}`,
        { method: req.method, headers: { ...req.headers, host: gateHost } },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve));
    const addr = gate.address();
    gateHost = `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  afterAll(async () => {
    await new Promise((r) => gate?.close(r));
    await reg?.stop();
  });

  it('gets a token from the realm with the credentials, caches it per scope, and pushes', async () => {
    const transport = counting(createHttpTransport());
    const client = new RegistryClient({
      endpoint: endpointFor(gateHost, parseInsecureRegistries(`http://${gateHost}`)),
      credentials: { username: 'robot', password: 't0ken-pass' },
      transport,
    });
    const pushed = await pushCheckpointImage(client, input());
    expect(pushed.layerDigest).toBe(archiveDigest);
    expect(tokenRequests).toEqual(['repository:kcr/shop/cache-0:pull,push']);
    // Once the token is cached, no request meets a 401 again: one extra request per scope at most.
    expect(transport.calls.filter((c) => c === 'GET /token')).toHaveLength(1);
    const { stdout } = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/kcr/shop/cache-0:${pushed.tag}`]);
    expect(JSON.parse(stdout)).toMatchObject({ annotations: { 'kcr.io/identity': 'cache-0' } });
    client.close();
  });

  it('refuses when the token server rejects the credentials', async () => {
    const client = new RegistryClient({
      endpoint: endpointFor(gateHost, parseInsecureRegistries(`http://${gateHost}`)),
      credentials: { username: 'robot', password: 'nope-nope' },
    });
    const err = await caught(pushCheckpointImage(client, input()));
    client.close();
    expect(err.kind).toBe('unauthorized');
    expect(err.transient).toBe(false);
    expect(err.message).toContain(gateHost);
    expect(err.message).not.toContain('nope-nope');
  });
});

describe('CheckpointImageStore (what the agent and controller use)', () => {
  it('pushes with credentials from a dockerconfigjson, finds the image, and deletes it for retention', async () => {
    const password = 'store-secret-pass';
    const reg = await startRegistry({ auth: { username: 'agent', password } });
    try {
      const dockerConfigJson = JSON.stringify({
        auths: { [reg.host]: { auth: Buffer.from(`agent:${password}`).toString('base64') } },
      });
      const store = new CheckpointImageStore(
        { registry: reg.host, prefix: 'kcr', insecureRegistries: parseInsecureRegistries(`http://${reg.host}`), compression: 'none' },
        { dockerConfigJson },
      );
      const { archivePath, architecture, ...meta } = input();
      const pushed = await store.push({ archivePath, architecture, ...meta, namespace: 'Shop', identity: 'cache-0' });
      expect(pushed.repository).toBe('kcr/shop/cache-0');
      expect(pushed.tag).toBe('redis-20261124T080000Z');
      expect(pushed.layerDigest).toBe(archiveDigest);
      expect(await store.exists(pushed.reference)).toBe(true);
      expect(await store.delete(pushed.reference)).toBe('deleted');
      expect(await store.exists(pushed.reference)).toBe(false);
      expect(await store.delete(pushed.reference)).toBe('absent');
      await expect(store.delete(`other.example/kcr/x@sha256:${'0'.repeat(64)}`)).rejects.toThrow(RegistryError);
      store.close();
    } finally {
      await reg.stop();
    }
  });
});

describe('a registry answering 503', () => {
  it('is a transient server error that names registry and repository', async () => {
    const srv = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAVAILABLE","message":"maintenance"}]}');
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const addr = srv.address();
    const host = `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    try {
      const client = new RegistryClient({ endpoint: endpointFor(host, parseInsecureRegistries(`http://${host}`)) });
      const err = await caught(pushCheckpointImage(client, input()));
      client.close();
      expect(err).toMatchObject({ kind: 'server', transient: true, status: 503 });
      expect(err.message).toContain(host);
      expect(err.message).toContain('kcr/shop/cache-0');
      expect(err.message).toContain('UNAVAILABLE: maintenance');
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
