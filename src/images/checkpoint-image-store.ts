// The one object the agent and the controller use for checkpoint images: it knows the
// registry, its TLS setting and credentials, names repositories and tags, pushes archives and
// deletes manifests for retention. Built from ImageStoreSettings (config) and the content of
// the dockerconfigjson Secret; the credentials never leave it.
import { DigestCache } from './digest-cache.ts';
import { credentialsFor, parseDockerConfigJson } from './docker-config.ts';
import type { HttpTransport } from './http-transport.ts';
import type { CheckpointImageMeta } from './image-manifest.ts';
import { pushCheckpointImage, type LayerCompression, type PushedImage } from './push-checkpoint-image.ts';
import { RegistryClient } from './registry-client.ts';
import { endpointFor, type InsecureRegistry } from './registry-endpoint.ts';
import { RegistryError } from './registry-error.ts';
import { repositoryFor, tagFor } from './repository-name.ts';
import { parseDigestReference } from '../rules/checkpoint-image-ref.ts';

export interface ImageStoreSettings {
  /** host[:port] of the registry checkpoint images go to. */
  registry: string;
  /** Repository prefix, e.g. 'kcr' -> <registry>/kcr/<namespace>/<identity>. */
  prefix: string;
  insecureRegistries: readonly InsecureRegistry[];
  /** Extra CA (PEM) trusted for the registry. */
  ca?: string | undefined;
  compression: LayerCompression;
}

export interface StoreDeps {
  /** `.dockerconfigjson` content (from the Secret); undefined means anonymous. */
  dockerConfigJson?: string | Uint8Array | undefined;
  transport?: HttpTransport;
  now?: () => number;
}

export interface PushArchiveInput extends CheckpointImageMeta {
  archivePath: string;
  architecture: string;
}


export class CheckpointImageStore {
  readonly #settings: ImageStoreSettings;
  readonly #client: RegistryClient;
  readonly #cache = new DigestCache();

  constructor(settings: ImageStoreSettings, deps: StoreDeps = {}) {
    this.#settings = settings;
    const store = deps.dockerConfigJson === undefined ? undefined : parseDockerConfigJson(deps.dockerConfigJson);
    this.#client = new RegistryClient({
      endpoint: endpointFor(settings.registry, settings.insecureRegistries, settings.ca),
      credentials: store ? credentialsFor(store, settings.registry) : undefined,
      ...(deps.transport ? { transport: deps.transport } : {}),
      ...(deps.now ? { now: deps.now } : {}),
    });
  }

  get registry(): string {
    return this.#client.registry;
  }

  /** Where a checkpoint of this container goes: repository and tag. */
  locate(meta: Pick<CheckpointImageMeta, 'namespace' | 'identity' | 'container' | 'createdAt'>): { repository: string; tag: string } {
    return {
      repository: repositoryFor({ prefix: this.#settings.prefix, namespace: meta.namespace, identity: meta.identity }),
      tag: tagFor(meta.container, meta.createdAt),
    };
  }

  /** Pushes an archive as a checkpoint image; resolves once the manifest is stored. */
  push(input: PushArchiveInput): Promise<PushedImage> {
    return pushCheckpointImage(
      this.#client,
      { ...input, ...this.locate(input), compression: this.#settings.compression },
      { digestCache: this.#cache },
    );
  }

  /** Deletes the manifest behind `<registry>/<repo>@<digest>` (retention); gone already is fine. */
  async delete(reference: string): Promise<'deleted' | 'absent'> {
    const ref = parseDigestReference(reference);
    if (!ref || ref.registry !== this.#client.registry) {
      throw new RegistryError(`cannot delete ${reference}: not a digest reference in registry ${this.#client.registry}`, {
        kind: 'rejected',
        registry: this.#client.registry,
      });
    }
    return this.#client.deleteManifest(ref.repository, ref.digest);
  }

  /** Whether the image behind a digest reference still exists. */
  async exists(reference: string): Promise<boolean> {
    const ref = parseDigestReference(reference);
    if (!ref || ref.registry !== this.#client.registry) return false;
    return (await this.#client.manifestDigest(ref.repository, ref.digest)) !== undefined;
  }

  close(): void {
    this.#client.close();
  }
}
