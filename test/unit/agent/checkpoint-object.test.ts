import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildCheckpoint, checkpointName, containerImage, imageBuiltStatus, nodeArchitecture, originalSoftware, type CheckpointFacts } from '../../../src/agent/checkpoint-object.ts';

const digest = `sha256:${'a'.repeat(64)}`;
const facts: CheckpointFacts = {
  name: 'web-0-app-1234567890-abcd1234',
  namespace: 'apps',
  request: { name: 'web-0-app-1234567890', uid: '7c1e0a3e-0000-4000-8000-000000000001' },
  scheduleRef: { name: 'every-minute' },
  podName: 'web-0',
  podUid: 'pod-uid-1',
  container: 'app',
  node: 'node-1',
  identity: { identity: 'web-0', kind: 'StatefulSet', workload: 'web' },
  originalImage: 'docker.io/library/counter:1.0',
  originalImageDigest: digest,
  originalImageID: `docker.io/library/counter@${digest}`,
  runtime: { name: 'cri-o', version: '1.34.0' },
  baseImage: { name: 'docker.io/library/counter:1.0', ref: 'a'.repeat(64) },
  architecture: 'arm64',
  archiveFile: 'checkpoint-web-0_apps-app-2026-11-24T08:30:00Z.tar',
  takenAt: new Date('2026-11-24T08:30:00Z'),
  sizeBytes: 4096,
  archiveDigest: `sha256:${'b'.repeat(64)}`,
};

describe('Checkpoint object', () => {
  it('records where the checkpoint came from, per DESIGN.md, and is owned by nothing', () => {
    const cp = buildCheckpoint(facts);
    expect(cp).toMatchObject({ apiVersion: 'checkpoint-restore.kcr.io/v1', kind: 'Checkpoint', metadata: { name: facts.name, namespace: 'apps' } });
    expect(cp.metadata.ownerReferences).toBeUndefined();
    expect(cp.spec).toEqual({
      checkpointData: facts.archiveFile,
      checkpointID: facts.request.uid,
      checkpointTimestamp: '2026-11-24T08:30:00Z',
      containerName: 'app',
      nodeName: 'node-1',
      checkpointScheduleRef: { name: 'every-minute' },
      podName: 'web-0',
      podUID: 'pod-uid-1',
      workload: { kind: 'StatefulSet', name: 'web' },
      identity: 'web-0',
      originalImage: 'docker.io/library/counter:1.0',
      originalImageDigest: digest,
      originalImageID: `docker.io/library/counter@${digest}`,
      runtime: { name: 'cri-o', version: '1.34.0' },
      baseImage: { name: 'docker.io/library/counter:1.0', ref: 'a'.repeat(64) },
      architecture: 'arm64',
      sizeBytes: 4096,
      archiveDigest: facts.archiveDigest,
    });
    expect(cp.status).toBeUndefined();
    expect(cp.metadata.labels?.['kcr.io/checkpoint-request-uid']).toBe(facts.request.uid);
  });

  it('leaves out what a user request does not have (schedule, image digest)', () => {
    const cp = buildCheckpoint({ ...facts, scheduleRef: undefined, originalImageDigest: undefined, originalImageID: undefined, baseImage: {} });
    expect(cp.spec).not.toHaveProperty('checkpointScheduleRef');
    expect(cp.spec).not.toHaveProperty('originalImageDigest');
    expect(cp.spec).not.toHaveProperty('originalImageID');
    expect(cp.spec).not.toHaveProperty('baseImage');
  });

  it('status ImageBuilt with the pullable image by digest', () => {
    const ref = `127.0.0.1:5000/kcr/apps/web-0@${digest}`;
    const st = imageBuiltStatus({ tagReference: '127.0.0.1:5000/kcr/apps/web-0:app-20261124T083000Z', digestReference: ref }, new Date('2026-11-24T08:30:05.123Z'));
    expect(st).toMatchObject({ phase: 'ImageBuilt', runtimeImage: ref, checkpointImage: '127.0.0.1:5000/kcr/apps/web-0:app-20261124T083000Z' });
    expect(st.runtimeImage).toMatch(/^[^@\s]+@sha256:[a-f0-9]{64}$/);
    expect(st.conditions?.[0]).toMatchObject({ type: 'ImageBuilt', status: 'True', lastTransitionTime: '2026-11-24T08:30:05Z' });
  });

  it('names are deterministic per request, differ between requests, and are valid object names', () => {
    expect(checkpointName('r', 'uid-1')).toBe(checkpointName('r', 'uid-1'));
    expect(checkpointName('r', 'uid-1')).not.toBe(checkpointName('r', 'uid-2'));
    const subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
    const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/);
    const requestName = fc.array(label, { minLength: 1, maxLength: 12 }).map((ls) => ls.join('.').slice(0, 253).replace(/[-.]+$/, '')).filter((n) => n !== '');
    fc.assert(
      fc.property(requestName, fc.uuid(), (req, uid) => {
        const n = checkpointName(req, uid);
        expect(n.length).toBeLessThanOrEqual(253);
        expect(n).toMatch(subdomain);
        // Readable: it starts like the request it came from.
        expect(n.slice(0, 1)).toBe(req.slice(0, 1));
      }),
    );
  });

  it('takes the container image and its digest from the pod, the architecture from the node', () => {
    const pod = {
      spec: { nodeName: 'n', containers: [{ name: 'app', image: 'counter:1.0' }, { name: 'side', image: 'side:2' }] },
      status: { containerStatuses: [{ name: 'app', imageID: `docker.io/library/counter@${digest}` }, { name: 'side', imageID: '' }] },
    };
    expect(containerImage(pod, 'app')).toEqual({ image: 'counter:1.0', digest, imageID: `docker.io/library/counter@${digest}` });
    expect(containerImage(pod, 'side')).toEqual({ image: 'side:2', digest: undefined });
    expect(containerImage(pod, 'nope')).toBeUndefined();
    expect(nodeArchitecture({ metadata: { labels: { 'kubernetes.io/arch': 'arm64' } }, status: { nodeInfo: { architecture: 'amd64' } } })).toBe('arm64');
    expect(nodeArchitecture({ status: { nodeInfo: { architecture: 'amd64' } } })).toBe('amd64');
    expect(nodeArchitecture({})).toBeUndefined();
  });

  it('a container restored from a checkpoint records that checkpoint\'s original software, so its own checkpoints restore too', () => {
    const runtime = `reg/kcr/apps/web-0@${digest}`;
    const restoredFrom = { spec: { containerName: 'app', originalImage: 'counter:1.0', originalImageDigest: 'sha256:orig' }, status: { runtimeImage: runtime } };
    expect(originalSoftware({ image: runtime, digest }, restoredFrom)).toEqual({ image: 'counter:1.0', digest: 'sha256:orig' });
    // Not running that checkpoint's image (an image changed since): what it runs is what it is.
    expect(originalSoftware({ image: 'counter:2.0', digest: undefined }, restoredFrom)).toEqual({ image: 'counter:2.0', digest: undefined });
    expect(originalSoftware({ image: 'counter:1.0', digest: undefined }, undefined)).toEqual({ image: 'counter:1.0', digest: undefined });
  });
});
