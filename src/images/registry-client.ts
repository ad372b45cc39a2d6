// An OCI distribution client for one registry: the calls a checkpoint push and retention need
// (blob HEAD/upload, manifest PUT/HEAD/DELETE), with auth answered on 401 and every failure
// turned into a classified RegistryError.
import { Readable } from 'node:stream';
import type { RegistryCredentials } from './docker-config.ts';
import { BodySourceError, createHttpTransport, type HttpRequest, type HttpResponse, type HttpTransport } from './http-transport.ts';
import { MANIFEST_ACCEPT } from './media-types.ts';
import { RegistryAuth } from './registry-auth.ts';
import type { RegistryEndpoint } from './registry-endpoint.ts';
import { RegistryError, kindOfNetworkError, kindOfStatus, registryErrorDetail } from './registry-error.ts';

export interface RegistryClientOptions {
  endpoint: RegistryEndpoint;
  credentials?: RegistryCredentials | undefined;
  /** Defaults to node:http(s) with the endpoint's TLS settings. Tests wrap it to count requests. */
  transport?: HttpTransport;
  now?: () => number;
}

const pullScope = (repo: string) => `repository:${repo}:pull`;
const pushScope = (repo: string) => `repository:${repo}:pull,push`;
const deleteScope = (repo: string) => `repository:${repo}:delete`;

export class RegistryClient {
  /** host[:port] as in image references. */
  readonly registry: string;
  readonly #base: string;
  readonly #transport: HttpTransport;
  readonly #auth: RegistryAuth;
  readonly #ownTransport: { close(): void } | undefined;

  constructor(options: RegistryClientOptions) {
    const { endpoint } = options;
    this.registry = endpoint.host;
    // Docker Hub's API lives on another host than its references.
    const apiHost = endpoint.host === 'docker.io' ? 'registry-1.docker.io' : endpoint.host;
    this.#base = `${endpoint.scheme}://${apiHost}`;
    if (options.transport) {
      this.#transport = options.transport;
    } else {
      const t = createHttpTransport({ tlsVerify: endpoint.tlsVerify, ca: endpoint.ca });
      this.#transport = t;
      this.#ownTransport = t;
    }
    this.#auth = new RegistryAuth(endpoint.host, options.credentials, this.#transport, options.now);
  }

  /** Closes the keep-alive connections of the transport this client created. */
  close(): void {
    this.#ownTransport?.close();
  }

  async blobExists(repository: string, digest: string): Promise<boolean> {
    const res = await this.#send({ method: 'HEAD', url: this.#url(repository, `blobs/${digest}`) }, pullScope(repository), repository);
    if (res.status === 404) return false;
    this.#expect(res, [200], `checking blob ${digest}`, repository);
    return true;
  }

  /** Uploads a small blob held in memory (a config), unless it is already there. */
  async pushBlobBytes(repository: string, bytes: Uint8Array, digest: string): Promise<void> {
    if (await this.blobExists(repository, digest)) return;
    const location = await this.#startUpload(repository);
    const url = withDigest(location, digest);
    const res = await this.#send(
      { method: 'PUT', url, headers: { 'content-type': 'application/octet-stream' }, body: bytes },
      pushScope(repository),
      repository,
    );
    this.#expect(res, [201], `storing blob ${digest}`, repository);
  }

  /**
   * Streams a blob whose digest is only known once the stream has ended: POST, one streamed
   * PATCH (a single chunk, so OCI-Chunk-Min-Length never applies), then PUT ?digest=.
   * `digestAfter` is called after the body ended; `sizeAfter` to verify the registry got it all.
   */
  async pushBlobStream(
    repository: string,
    body: Readable,
    digestAfter: () => string,
    sizeAfter: () => number,
    knownSize?: number,
  ): Promise<void> {
    let location: string;
    try {
      location = await this.#startUpload(repository);
    } catch (err) {
      body.destroy();
      throw err;
    }
    let patched: HttpResponse;
    try {
      patched = await this.#send(
        {
          method: 'PATCH',
          url: location,
          // A known length avoids chunked transfer encoding (the registry reads a plain body).
          headers: {
            'content-type': 'application/octet-stream',
            ...(knownSize !== undefined ? { 'content-length': String(knownSize) } : {}),
          },
          body,
        },
        pushScope(repository),
        repository,
      );
      this.#expect(patched, [202, 204], 'uploading the layer', repository);
    } finally {
      // Whatever happened, stop reading the archive (closes its file descriptor).
      if (!body.readableEnded) body.destroy();
    }
    if (!body.readableEnded) {
      throw new RegistryError(`registry ${this.registry} accepted the layer for ${repository} before it was fully read`, {
        kind: 'protocol',
        registry: this.registry,
        repository,
      });
    }
    const size = sizeAfter();
    const range = patched.headers.range;
    if (typeof range === 'string' && size > 0 && range !== `0-${size - 1}` && range !== `bytes=0-${size - 1}`) {
      throw new RegistryError(`registry ${this.registry} received range ${range} of ${size} bytes for repository ${repository}`, {
        kind: 'server',
        registry: this.registry,
        repository,
      });
    }
    const next = this.#location(patched, location);
    const digest = digestAfter();
    const done = await this.#send({ method: 'PUT', url: withDigest(next, digest) }, pushScope(repository), repository);
    this.#expect(done, [201], `completing layer ${digest}`, repository);
  }

  /** PUT a manifest under a tag (or digest); returns the manifest's digest as the registry reports it. */
  async putManifest(repository: string, reference: string, bytes: Uint8Array, mediaType: string): Promise<string | undefined> {
    const res = await this.#send(
      { method: 'PUT', url: this.#url(repository, `manifests/${reference}`), headers: { 'content-type': mediaType }, body: bytes },
      pushScope(repository),
      repository,
    );
    this.#expect(res, [201], `storing manifest ${reference}`, repository);
    const d = res.headers['docker-content-digest'];
    return typeof d === 'string' ? d : undefined;
  }

  /** The digest of a manifest, or undefined when there is none under that reference. */
  async manifestDigest(repository: string, reference: string): Promise<string | undefined> {
    const res = await this.#send(
      { method: 'HEAD', url: this.#url(repository, `manifests/${reference}`), headers: { accept: MANIFEST_ACCEPT } },
      pullScope(repository),
      repository,
    );
    if (res.status === 404) return undefined;
    this.#expect(res, [200], `reading manifest ${reference}`, repository);
    const d = res.headers['docker-content-digest'];
    return typeof d === 'string' ? d : reference;
  }

  /** Deletes a manifest by digest (retention). A manifest that is already gone is not an error. */
  async deleteManifest(repository: string, digest: string): Promise<'deleted' | 'absent'> {
    const res = await this.#send({ method: 'DELETE', url: this.#url(repository, `manifests/${digest}`) }, deleteScope(repository), repository);
    if (res.status === 404) return 'absent';
    this.#expect(res, [202, 200, 204], `deleting manifest ${digest}`, repository);
    return 'deleted';
  }

  /** Every repository name the registry lists (GET /v2/_catalog, following Link rel="next"). */
  async catalog(pageSize = 1000): Promise<string[]> {
    return this.#pages(`${this.#base}/v2/_catalog?n=${pageSize}`, 'registry:catalog:*', '', 'repositories', 'listing the catalog');
  }

  /** Every tag of a repository; none when the repository does not exist (404). */
  async tags(repository: string, pageSize = 1000): Promise<string[]> {
    return this.#pages(this.#url(repository, `tags/list?n=${pageSize}`), pullScope(repository), repository, 'tags', 'listing tags');
  }

  async #pages(first: string, scope: string, repository: string, field: 'repositories' | 'tags', what: string): Promise<string[]> {
    const out: string[] = [];
    let url: string | undefined = first;
    // A registry that keeps sending the same next link must not loop forever.
    for (let page = 0; url !== undefined && page < 10_000; page++) {
      const res = await this.#send({ method: 'GET', url, headers: { accept: 'application/json' } }, scope, repository);
      if (res.status === 404 && field === 'tags') return out;
      this.#expect(res, [200], what, repository);
      let doc: Record<string, unknown>;
      try {
        doc = JSON.parse(res.text) as Record<string, unknown>;
      } catch {
        throw new RegistryError(`registry ${this.registry} answered ${what} with something that is not JSON`, { kind: 'protocol', registry: this.registry, repository });
      }
      const items = doc[field];
      if (Array.isArray(items)) for (const i of items) if (typeof i === 'string') out.push(i);
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(headerString(res.headers.link) ?? '')?.[1];
      url = next === undefined ? undefined : new URL(next, this.#base).toString();
    }
    return out;
  }

  #url(repository: string, rest: string): string {
    return `${this.#base}/v2/${repository}/${rest}`;
  }

  async #startUpload(repository: string): Promise<string> {
    const res = await this.#send({ method: 'POST', url: this.#url(repository, 'blobs/uploads/') }, pushScope(repository), repository);
    this.#expect(res, [202], 'starting an upload', repository);
    return this.#location(res, this.#base);
  }

  #location(res: HttpResponse, base: string): string {
    const loc = res.headers.location;
    if (typeof loc !== 'string' || loc === '') {
      throw new RegistryError(`registry ${this.registry} sent no upload Location`, { kind: 'protocol', registry: this.registry });
    }
    return new URL(loc, base).toString();
  }

  async #send(req: HttpRequest, scope: string, repository: string): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const authorization = this.#auth.headerFor(scope);
      const headers = { ...req.headers, ...(authorization ? { authorization } : {}) };
      let res: HttpResponse;
      try {
        res = await this.#transport({ ...req, headers });
      } catch (err) {
        throw this.#networkError(err, repository);
      }
      // A streamed body is consumed: it cannot be resent. Uploads authenticate on the POST first.
      if (res.status === 401 && attempt === 0 && !(req.body instanceof Readable)) {
        if (await this.#auth.answer(headerString(res.headers['www-authenticate']), scope, repository)) continue;
      }
      return res;
    }
  }

  #networkError(err: unknown, repository: string): RegistryError {
    if (err instanceof RegistryError) return err;
    if (err instanceof BodySourceError) {
      return new RegistryError(`reading the archive for ${this.registry}/${repository} failed: ${err.message}`, {
        kind: 'source',
        registry: this.registry,
        repository,
        cause: err,
      });
    }
    const code = (err as { code?: string }).code;
    const kind = kindOfNetworkError(code);
    const hint = kind === 'tls' ? ' (list it in insecureRegistries only if you trust the network)' : '';
    return new RegistryError(`registry ${this.registry} unreachable for repository ${repository}: ${code ?? String(err)}${hint}`, {
      kind,
      registry: this.registry,
      repository,
      cause: err,
    });
  }

  #expect(res: HttpResponse, ok: number[], what: string, repository: string): void {
    if (ok.includes(res.status)) return;
    const detail = registryErrorDetail(res.text);
    const kind = kindOfStatus(res.status);
    const verb = kind === 'unauthorized' ? 'denied' : 'failed';
    throw new RegistryError(
      `registry ${this.registry}: ${what} ${verb} for repository ${repository}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`,
      { kind, registry: this.registry, repository, status: res.status },
    );
  }
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}
