// The simulated node's image pull against a REAL registry (docker-registry on loopback): a
// checkpoint image's layer is fetched and its app state read; ordinary images resolve to a
// digest; pull failures carry the kubelet's wording.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistry, type RegistryServer } from '../support/registry.ts';
import { CRIO_CHECKPOINT_ANNOTATION } from '../cluster/sim-node/annotations.ts';
import { readCheckpointArchive, writeCheckpointArchive } from '../cluster/sim-node/archive.ts';
import { createRegistryClient, ImagePullError, simulatedDigest } from '../cluster/sim-node/registry-client.ts';
import { parseImageRef } from '../cluster/sim-node/image-ref.ts';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function pushBlob(base: string, repo: string, body: Buffer, auth?: string): Promise<string> {
  const digest = sha(body);
  const headers: Record<string, string> = auth ? { authorization: auth } : {};
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  expect(start.status).toBe(202);
  const loc = new URL(start.headers.get('location')!, base);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body });
  expect(put.status).toBe(201);
  return digest;
}

/** Pushes a one-layer OCI image (the layer as given) and returns the manifest digest. */
async function pushImage(base: string, repo: string, tag: string, layer: Buffer, annotations: Record<string, string>, auth?: string): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
  const configDigest = await pushBlob(base, repo, config, auth);
  const layerDigest = await pushBlob(base, repo, layer, auth);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
      annotations,
    }),
  );
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', ...(auth ? { authorization: auth } : {}) },
    body: manifest,
  });
  expect(res.status).toBe(201);
  return sha(manifest);
}

let dir: string;
let reg: RegistryServer;
let archive: Buffer;
const saved = { counter: 1234, startedAt: '2026-11-24T07:00:00.000Z' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kcr-sim-registry-'));
  reg = await startRegistry();
  const path = join(dir, 'a.tar');
  await writeCheckpointArchive(path, {
    containerId: 'c'.repeat(64),
    containerName: 'counter',
    podName: 'web-0',
    namespace: 'shop',
    podUid: 'u-1',
    image: 'docker.io/library/counter:1.0',
    imageRef: 'docker.io/library/counter@' + simulatedDigest('docker.io/library/counter:1.0'),
    rootfsImageName: 'docker.io/library/counter:1.0',
    podAnnotations: {},
    podLabels: {},
    args: [],
    env: [],
    createdAt: new Date('2026-11-24T07:00:00Z'),
    checkpointedAt: new Date('2026-11-24T07:20:34Z'),
    state: saved,
    memoryBytes: 512 * 1024,
  });
  archive = await readFile(path);
});

afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('pulling checkpoint images from a real registry', () => {
  it('reads the app state from a checkpoint image (uncompressed layer) and reports imageID by digest', async () => {
    const digest = await pushImage(reg.url, 'shop/web-0', 'ckpt-1', archive, { [CRIO_CHECKPOINT_ANNOTATION]: 'counter' });
    const client = createRegistryClient();
    const image = `${reg.host}/shop/web-0:ckpt-1`;
    const got = await client.resolve(image);
    expect(got.imageID).toBe(`${reg.host}/shop/web-0@${digest}`);
    expect(got.checkpoint?.containerName).toBe('counter');
    expect((await readCheckpointArchive(got.checkpoint!.archive)).state).toEqual(saved);
    // By digest, as kcr's webhook pins it.
    const byDigest = await client.resolve(`${reg.host}/shop/web-0@${digest}`);
    expect(byDigest.imageID).toBe(got.imageID);
  });

  it('reads a gzip layer too', async () => {
    await pushImage(reg.url, 'shop/web-0', 'ckpt-gz', gzipSync(archive), { [CRIO_CHECKPOINT_ANNOTATION]: 'counter' });
    const got = await createRegistryClient().resolve(`${reg.host}/shop/web-0:ckpt-gz`);
    expect((await readCheckpointArchive(got.checkpoint!.archive)).state.counter).toBe(1234);
  });

  it('an image without the checkpoint annotation is an ordinary image', async () => {
    const digest = await pushImage(reg.url, 'apps/counter', '1.0', Buffer.alloc(1024), {});
    const got = await createRegistryClient().resolve(`${reg.host}/apps/counter:1.0`);
    expect(got).toEqual({ imageID: `${reg.host}/apps/counter@${digest}` });
  });

  it('a missing image fails like ErrImagePull', async () => {
    const err = await createRegistryClient().resolve(`${reg.host}/shop/nothing:here`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImagePullError);
    expect((err as Error).message).toMatch(/failed to pull image ".*nothing:here".*manifest unknown/);
  });

  it('an unreachable registry fails like ErrImagePull', async () => {
    await reg.pause();
    try {
      const err = await createRegistryClient({ timeoutMs: 3000 }).resolve(`${reg.host}/shop/web-0:ckpt-1`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImagePullError);
      expect((err as Error).message).toContain('failed to pull image');
    } finally {
      await reg.resume();
    }
  });

  it('images of registries this machine cannot reach are simulated with a stable digest', async () => {
    const client = createRegistryClient();
    const a = await client.resolve('nginx:1.27');
    expect(a.imageID).toBe(`docker.io/library/nginx@${simulatedDigest('nginx:1.27')}`);
    expect((await client.resolve('nginx:1.27')).imageID).toBe(a.imageID);
    expect((await client.resolve('nginx:1.28')).imageID).not.toBe(a.imageID);
  });

  it('rejects malformed references', async () => {
    await expect(createRegistryClient().resolve('UPPER/Case')).rejects.toThrow(ImagePullError);
    expect(() => parseImageRef('a@sha256:short')).toThrow(/digest/);
    expect(parseImageRef('127.0.0.1:5000/a/b:t')).toEqual({ registry: '127.0.0.1:5000', repository: 'a/b', tag: 't' });
    expect(parseImageRef('busybox')).toEqual({ registry: 'docker.io', repository: 'library/busybox', tag: 'latest' });
  });
});

describe('a registry with Basic auth', () => {
  let secure: RegistryServer;
  const creds = { username: 'kcr', password: 'pw-' + Math.random().toString(36).slice(2) };
  beforeAll(async () => {
    secure = await startRegistry({ auth: creds });
  });
  afterAll(async () => {
    await secure?.stop();
  });

  it('pulls with the pod pull secret credentials and is refused without them', async () => {
    const auth = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    await pushImage(secure.url, 'shop/web-0', 'ckpt', archive, { [CRIO_CHECKPOINT_ANNOTATION]: 'counter' }, auth);
    const client = createRegistryClient();
    const image = `${secure.host}/shop/web-0:ckpt`;
    await expect(client.resolve(image)).rejects.toThrow(/unauthorized/);
    const got = await client.resolve(image, creds);
    expect((await readCheckpointArchive(got.checkpoint!.archive)).state.counter).toBe(1234);
  });
});
