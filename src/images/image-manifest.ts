// The checkpoint image's config and manifest, and the annotations every runtime that restores
// from an image reads (DESIGN.md "Checkpoint images"). Pure: bytes in, bytes out.
import { createHash } from 'node:crypto';
import { ANNOTATIONS } from '../api/types.ts';
import { MEDIA_TYPES } from './media-types.ts';

export interface CheckpointImageMeta {
  container: string;
  pod: string;
  namespace: string;
  identity: string;
  /** The image the container ran (what the restore needs underneath the checkpoint). */
  originalImage: string;
  createdAt: Date;
  /** The runtime that wrote the archive (cri-o, containerd). */
  runtime?: string;
  /** The base image as the archive's config.dump names it (rootfsImageName, rootfsImageRef); name defaults to originalImage. */
  baseImage?: { name?: string; ref?: string };
}

export const CHECKPOINT_ANNOTATIONS = {
  crioCheckpointName: 'io.kubernetes.cri-o.annotations.checkpoint.name',
  criuContainerName: 'org.criu.checkpoint.container.name',
  criuRootfsImageName: 'org.criu.checkpoint.rootfsImageName',
  criuRootfsImageRef: 'org.criu.checkpoint.rootfsImageRef',
  criuRuntimeName: 'org.criu.checkpoint.runtime.name',
  pod: 'kcr.io/pod',
  namespace: 'kcr.io/namespace',
  identity: ANNOTATIONS.identity,
  timestamp: 'kcr.io/timestamp',
  created: 'org.opencontainers.image.created',
} as const;

export function checkpointAnnotations(meta: CheckpointImageMeta): Record<string, string> {
  const created = meta.createdAt.toISOString();
  return {
    [CHECKPOINT_ANNOTATIONS.crioCheckpointName]: meta.container,
    [CHECKPOINT_ANNOTATIONS.criuContainerName]: meta.container,
    [CHECKPOINT_ANNOTATIONS.criuRootfsImageName]: meta.baseImage?.name ?? meta.originalImage,
    ...(meta.baseImage?.ref !== undefined ? { [CHECKPOINT_ANNOTATIONS.criuRootfsImageRef]: meta.baseImage.ref } : {}),
    ...(meta.runtime !== undefined ? { [CHECKPOINT_ANNOTATIONS.criuRuntimeName]: meta.runtime } : {}),
    [CHECKPOINT_ANNOTATIONS.pod]: meta.pod,
    [CHECKPOINT_ANNOTATIONS.namespace]: meta.namespace,
    [CHECKPOINT_ANNOTATIONS.identity]: meta.identity,
    [CHECKPOINT_ANNOTATIONS.timestamp]: created,
    [CHECKPOINT_ANNOTATIONS.created]: created,
  };
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export interface ImageConfigInput {
  architecture: string;
  os: string;
  /** sha256 of the uncompressed layer. */
  diffId: string;
  created: Date;
  labels: Record<string, string>;
}

/** application/vnd.oci.image.config.v1+json. */
export function buildImageConfig(input: ImageConfigInput): Uint8Array {
  const doc = {
    created: input.created.toISOString(),
    architecture: input.architecture,
    os: input.os,
    config: { Labels: input.labels },
    rootfs: { type: 'layers', diff_ids: [input.diffId] },
    history: [{ created: input.created.toISOString(), created_by: 'kcr checkpoint' }],
  };
  return Buffer.from(JSON.stringify(doc));
}

/** application/vnd.oci.image.manifest.v1+json with one layer. */
export function buildManifest(config: Descriptor, layer: Descriptor, annotations: Record<string, string>): Uint8Array {
  const doc = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config,
    layers: [layer],
    annotations,
  };
  return Buffer.from(JSON.stringify(doc));
}
