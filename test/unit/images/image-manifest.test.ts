import { describe, expect, it } from 'vitest';
import { buildImageConfig, buildManifest, checkpointAnnotations, sha256Digest } from '../../../src/images/image-manifest.ts';
import { MEDIA_TYPES } from '../../../src/images/media-types.ts';

const meta = {
  container: 'redis',
  pod: 'cache-0',
  namespace: 'shop',
  identity: 'cache-0',
  originalImage: 'docker.io/library/redis:7.4',
  createdAt: new Date('2026-11-24T07:00:00Z'),
};

describe('checkpoint image documents', () => {
  it('annotates for CRI-O, containerd and kcr', () => {
    expect(checkpointAnnotations(meta)).toEqual({
      'io.kubernetes.cri-o.annotations.checkpoint.name': 'redis',
      'org.criu.checkpoint.container.name': 'redis',
      'org.criu.checkpoint.rootfsImageName': 'docker.io/library/redis:7.4',
      'kcr.io/pod': 'cache-0',
      'kcr.io/namespace': 'shop',
      'kcr.io/identity': 'cache-0',
      'kcr.io/timestamp': '2026-11-24T07:00:00.000Z',
      'org.opencontainers.image.created': '2026-11-24T07:00:00.000Z',
    });
  });

  it('builds a config whose diff_ids is the uncompressed layer and a one-layer OCI manifest', () => {
    const layer = 'sha256:' + 'a'.repeat(64);
    const config = buildImageConfig({ architecture: 'arm64', os: 'linux', diffId: layer, created: meta.createdAt, labels: {} });
    const c = JSON.parse(Buffer.from(config).toString()) as { architecture: string; os: string; rootfs: unknown };
    expect(c).toMatchObject({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer] } });
    const manifest = JSON.parse(
      Buffer.from(
        buildManifest(
          { mediaType: MEDIA_TYPES.config, digest: sha256Digest(config), size: config.byteLength },
          { mediaType: MEDIA_TYPES.layerTar, digest: layer, size: 42 },
          { a: 'b' },
        ),
      ).toString(),
    ) as Record<string, unknown>;
    expect(manifest).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      config: { mediaType: MEDIA_TYPES.config, digest: sha256Digest(config), size: config.byteLength },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: 42 }],
      annotations: { a: 'b' },
    });
  });
});
