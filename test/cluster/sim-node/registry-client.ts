// The node's image puller: resolves an image over the OCI distribution API and, for a
// checkpoint image (manifest annotation io.kubernetes.cri-o.annotations.checkpoint.name),
// fetches its single layer (the checkpoint archive). Registries on loopback are spoken to over
// plain HTTP unless listed as HTTPS; registries elsewhere (docker.io, ...) cannot be reached
// from this machine, so by default their images are "pulled" as simulated images with a stable
// fake digest — the pods in tests can still name ordinary images.
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CRIO_CHECKPOINT_ANNOTATION, CRIU_CHECKPOINT_ANNOTATION } from './annotations.ts';
import { isLoopbackRegistry, parseImageRef, repositoryName, type ImageRef } from './image-ref.ts';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface ResolvedImage {
  /** As the kubelet reports it: <registry>/<repository>@sha256:<manifest digest>. */
  imageID: string;
  /** Present for a checkpoint image. */
  checkpoint?: { containerName: string; archive: Buffer; annotations: Record<string, string> };
}

export interface RegistryClient {
  resolve(image: string, credentials?: RegistryCredentials): Promise<ResolvedImage>;
}

/** A pull failure: the kubelet reports these as ErrImagePull with this message. */
export class ImagePullError extends Error {
  override name = 'ImagePullError';
}

export interface RegistryClientOptions {
  /** CA (PEM) for HTTPS registries. */
  ca?: string;
  /** host:port of registries spoken to over HTTPS even on loopback. */
  httpsRegistries?: string[];
  /** Registries off loopback and not listed: simulate the pull (default) or really try HTTPS. */
  simulateRemote?: boolean;
  /** Largest layer the node accepts, bytes. */
  maxBlobBytes?: number;
  timeoutMs?: number;
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];

interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export function simulatedDigest(image: string): string {
  return `sha256:${createHash('sha256').update(`kcr-sim-image:${image}`).digest('hex')}`;
}

export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  const https = new Set(options.httpsRegistries ?? []);
  const simulateRemote = options.simulateRemote ?? true;
  const maxBlob = options.maxBlobBytes ?? 2 * 1024 * 1024 * 1024;
  const timeoutMs = options.timeoutMs ?? 30_000;

  function get(url: URL, headers: Record<string, string>, limit: number, redirects = 3): Promise<HttpResult> {
    return new Promise((resolve, reject) => {
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
        url,
        { method: 'GET', headers, timeout: timeoutMs, ...(url.protocol === 'https:' && options.ca ? { ca: options.ca } : {}) },
        (res) => {
          const status = res.statusCode ?? 0;
          if ([301, 302, 303, 307, 308].includes(status) && res.headers.location && redirects > 0) {
            res.resume();
            // Redirects to blob storage must not carry the registry's credentials elsewhere.
            const next = new URL(res.headers.location, url);
            const h = next.host === url.host ? headers : { ...headers, authorization: '' };
            if (!h.authorization) delete h.authorization;
            get(next, h, limit, redirects - 1).then(resolve, reject);
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > limit) {
              req.destroy(new ImagePullError(`response from ${url.host} exceeds ${limit} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => resolve({ status, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new ImagePullError(`timeout talking to ${url.host}`)));
      req.on('error', reject);
      req.end();
    });
  }

  function baseUrl(ref: ImageRef): URL | undefined {
    if (https.has(ref.registry)) return new URL(`https://${ref.registry}`);
    if (isLoopbackRegistry(ref.registry)) return new URL(`http://${ref.registry}`);
    if (simulateRemote) return undefined;
    return new URL(`https://${ref.registry === 'docker.io' ? 'registry-1.docker.io' : ref.registry}`);
  }

  async function call(url: URL, headers: Record<string, string>, limit: number, what: string): Promise<HttpResult> {
    try {
      return await get(url, headers, limit);
    } catch (err) {
      if (err instanceof ImagePullError) throw err;
      throw new ImagePullError(`${what}: ${(err as Error).message}`);
    }
  }

  return {
    async resolve(image, credentials) {
      let ref: ImageRef;
      try {
        ref = parseImageRef(image);
      } catch (err) {
        throw new ImagePullError((err as Error).message);
      }
      const base = baseUrl(ref);
      const repo = repositoryName(ref);
      if (!base) return { imageID: `${repo}@${ref.digest ?? simulatedDigest(image)}` };

      const auth: Record<string, string> = credentials
        ? { authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` }
        : {};
      const manifestUrl = (reference: string) => new URL(`/v2/${ref.repository}/manifests/${reference}`, base);
      const pullErr = (what: string, r: HttpResult) =>
        new ImagePullError(
          `failed to pull image "${image}": ${what}: ${r.status === 401 ? 'unauthorized: authentication required' : r.status === 404 ? 'manifest unknown' : `HTTP ${r.status}`}`,
        );

      let r = await call(manifestUrl(ref.digest ?? ref.tag!), { accept: MANIFEST_TYPES.join(', '), ...auth }, 4 * 1024 * 1024, `failed to pull image "${image}"`);
      if (r.status !== 200) throw pullErr('reading manifest', r);
      let manifest = JSON.parse(r.body.toString('utf8')) as {
        mediaType?: string;
        manifests?: { digest: string; platform?: { architecture?: string; os?: string } }[];
        layers?: { digest: string; size?: number; mediaType?: string }[];
        annotations?: Record<string, string>;
      };
      let digest = `sha256:${createHash('sha256').update(r.body).digest('hex')}`;
      const indexAnnotations = manifest.annotations ?? {};
      if (manifest.manifests) {
        const pick = manifest.manifests.find((m) => m.platform?.architecture === 'amd64' && m.platform?.os === 'linux') ?? manifest.manifests[0];
        if (!pick) throw new ImagePullError(`failed to pull image "${image}": empty image index`);
        r = await call(manifestUrl(pick.digest), { accept: MANIFEST_TYPES.join(', '), ...auth }, 4 * 1024 * 1024, `failed to pull image "${image}"`);
        if (r.status !== 200) throw pullErr('reading manifest', r);
        manifest = JSON.parse(r.body.toString('utf8')) as typeof manifest;
        digest = pick.digest;
      }
      const annotations = { ...indexAnnotations, ...(manifest.annotations ?? {}) };
      const imageID = `${repo}@${digest}`;
      const containerName = annotations[CRIO_CHECKPOINT_ANNOTATION] ?? annotations[CRIU_CHECKPOINT_ANNOTATION];
      if (containerName === undefined) return { imageID };

      const layer = manifest.layers?.[0];
      if (!layer || manifest.layers!.length !== 1) {
        throw new ImagePullError(`failed to pull image "${image}": a checkpoint image has exactly one layer, found ${manifest.layers?.length ?? 0}`);
      }
      const blob = await call(new URL(`/v2/${ref.repository}/blobs/${layer.digest}`, base), auth, maxBlob, `failed to pull image "${image}"`);
      if (blob.status !== 200) throw pullErr(`fetching layer ${layer.digest}`, blob);
      const got = `sha256:${createHash('sha256').update(blob.body).digest('hex')}`;
      if (got !== layer.digest) throw new ImagePullError(`failed to pull image "${image}": layer digest mismatch: ${got} != ${layer.digest}`);
      return { imageID, checkpoint: { containerName, archive: blob.body, annotations } };
    },
  };
}
