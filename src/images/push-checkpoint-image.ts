// Turns one checkpoint archive into an OCI image: the archive as the single layer, streamed
// once from disk through sha256 into the registry (memory flat in the archive's size), then the
// config and the manifest with the restore annotations. The manifest goes last, so a failure
// at any step leaves no manifest pointing at a missing blob.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline, type Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { DigestCache} from './digest-cache.ts';
import { fileIdentity, type LayerDigests } from './digest-cache.ts';
import { HashingStream } from './hashing-stream.ts';
import { buildImageConfig, buildManifest, checkpointAnnotations, sha256Digest, type CheckpointImageMeta } from './image-manifest.ts';
import { MEDIA_TYPES } from './media-types.ts';
import type { RegistryClient } from './registry-client.ts';
import { RegistryError } from './registry-error.ts';

export type LayerCompression = 'none' | 'gzip';

export interface PushCheckpointInput extends CheckpointImageMeta {
  archivePath: string;
  repository: string;
  tag: string;
  /** GOARCH-style, e.g. 'amd64', 'arm64'. */
  architecture: string;
  os?: string;
  /** 'none' (default): the kubelet's tar as it is. 'gzip' (level 1) trades CPU for bytes. */
  compression?: LayerCompression;
}

export interface PushedImage {
  registry: string;
  repository: string;
  tag: string;
  manifestDigest: string;
  /** Digest of the layer blob as stored. */
  layerDigest: string;
  /** Digest of the uncompressed archive (equals layerDigest without compression). */
  diffId: string;
  /** Size of the layer blob as stored. */
  sizeBytes: number;
  /** `<registry>/<repository>@<manifestDigest>`: what a pod pulls. */
  reference: string;
  /** True when the layer was already in the repository and not uploaded again. */
  layerSkipped: boolean;
}

export interface PushDeps {
  /** Shared across pushes so re-pushing an archive skips its upload. */
  digestCache?: DigestCache;
}

// Reads of 1 MiB with 1 MiB buffered ahead: memory stays bounded by these, not the archive.
// Measured with bench:push: 8 MiB read-ahead gained no throughput here (the registry is the
// bottleneck) and grew peak RSS by 39 MiB from a 64 MiB to a 2 GiB archive; 1 MiB grows it by 7.
const READ_CHUNK = 1 << 20;
const READ_AHEAD = 1 << 20;

export async function pushCheckpointImage(client: RegistryClient, input: PushCheckpointInput, deps: PushDeps = {}): Promise<PushedImage> {
  const { repository, tag } = input;
  const compression = input.compression ?? 'none';
  const sourceError = (message: string, cause?: unknown) =>
    new RegistryError(message, { kind: 'source', registry: client.registry, repository, cause });

  let st;
  try {
    st = await stat(input.archivePath);
  } catch (err) {
    throw sourceError(`checkpoint archive ${input.archivePath} cannot be read: ${(err as { code?: string }).code ?? String(err)}`, err);
  }
  if (!st.isFile()) throw sourceError(`checkpoint archive ${input.archivePath} is not a file`);

  const key = fileIdentity(st, compression);
  let layer: LayerDigests | undefined = deps.digestCache?.get(key);
  let layerSkipped = false;
  if (layer && (await client.blobExists(repository, layer.digest))) {
    layerSkipped = true;
  } else {
    layer = await uploadLayer(client, input.archivePath, repository, compression, st.size);
    if (layer.size === 0 || (compression === 'none' && layer.size !== st.size)) {
      throw sourceError(`checkpoint archive ${input.archivePath} changed while it was read (${layer.size} of ${st.size} bytes)`);
    }
    deps.digestCache?.set(key, layer);
  }

  const annotations = checkpointAnnotations(input);
  const config = buildImageConfig({
    architecture: input.architecture,
    os: input.os ?? 'linux',
    diffId: layer.diffId,
    created: input.createdAt,
    labels: annotations,
  });
  const configDigest = sha256Digest(config);
  await client.pushBlobBytes(repository, config, configDigest);

  const manifest = buildManifest(
    { mediaType: MEDIA_TYPES.config, digest: configDigest, size: config.byteLength },
    {
      mediaType: compression === 'gzip' ? MEDIA_TYPES.layerTarGzip : MEDIA_TYPES.layerTar,
      digest: layer.digest,
      size: layer.size,
    },
    annotations,
  );
  const manifestDigest = sha256Digest(manifest);
  const reported = await client.putManifest(repository, tag, manifest, MEDIA_TYPES.manifest);
  if (reported !== undefined && reported !== manifestDigest) {
    throw new RegistryError(`registry ${client.registry} stored manifest ${reported}, expected ${manifestDigest}`, {
      kind: 'protocol',
      registry: client.registry,
      repository,
    });
  }
  return {
    registry: client.registry,
    repository,
    tag,
    manifestDigest,
    layerDigest: layer.digest,
    diffId: layer.diffId,
    sizeBytes: layer.size,
    reference: `${client.registry}/${repository}@${manifestDigest}`,
    layerSkipped,
  };
}

async function uploadLayer(
  client: RegistryClient,
  path: string,
  repository: string,
  compression: LayerCompression,
  fileSize: number,
): Promise<LayerDigests> {
  const file = createReadStream(path, { highWaterMark: READ_CHUNK });
  const raw = new HashingStream({ highWaterMark: READ_AHEAD });
  const noop = () => {};
  let body: Readable;
  let stored: HashingStream;
  if (compression === 'gzip') {
    stored = new HashingStream({ highWaterMark: READ_AHEAD });
    body = pipeline(file, raw, createGzip({ level: 1, chunkSize: 256 * 1024 }), stored, noop);
  } else {
    stored = raw;
    body = pipeline(file, raw, noop);
  }
  await client.pushBlobStream(
    repository,
    body,
    () => stored.digest,
    () => stored.bytes,
    compression === 'none' ? fileSize : undefined,
  );
  return { digest: stored.digest, size: stored.bytes, diffId: raw.digest };
}
