import { describe, expect, it } from 'vitest';
import { archiveFacts, archiveMismatch, ArchiveFactsError, type ArchiveDumps } from '../../../src/agent/archive-facts.ts';

const config = { rootfsImageName: 'docker.io/library/counter:1.0', rootfsImageRef: 'f'.repeat(64) };
const crioSpec = {
  annotations: {
    'io.kubernetes.pod.name': 'web-0',
    'io.kubernetes.pod.namespace': 'shop',
    'io.kubernetes.pod.uid': 'uid-1',
    'io.kubernetes.container.name': 'app',
    'io.kubernetes.cri-o.Annotations': '{}',
  },
};
const containerdSpec = {
  annotations: {
    'io.kubernetes.cri.sandbox-name': 'web-0',
    'io.kubernetes.cri.sandbox-namespace': 'shop',
    'io.kubernetes.cri.sandbox-uid': 'uid-1',
    'io.kubernetes.cri.container-name': 'app',
  },
};
const dumps = (entries: Record<string, unknown>): ArchiveDumps => new Map(Object.entries(entries));

describe('archiveFacts', () => {
  it('reads a CRI-O archive: runtime, whose container it is, the base image as config.dump names it', () => {
    expect(archiveFacts(dumps({ 'config.dump': config, 'spec.dump': crioSpec }))).toEqual({
      runtime: 'cri-o', namespace: 'shop', pod: 'web-0', container: 'app', podUid: 'uid-1',
      baseImage: { name: 'docker.io/library/counter:1.0', ref: 'f'.repeat(64) },
    });
  });

  it('reads a containerd archive (status.dump, its own annotations)', () => {
    const ref = `docker.io/library/counter@sha256:${'e'.repeat(64)}`;
    expect(archiveFacts(dumps({ 'config.dump': { ...config, rootfsImageRef: ref }, 'spec.dump': containerdSpec, 'status.dump': {} }))).toMatchObject({
      runtime: 'containerd', namespace: 'shop', pod: 'web-0', container: 'app', baseImage: { ref },
    });
  });

  it.each([
    ['no spec.dump', { 'config.dump': config }, 'no spec.dump'],
    ['no config.dump', { 'spec.dump': crioSpec }, 'no config.dump'],
    ['neither runtime', { 'config.dump': config, 'spec.dump': { annotations: {} } }, 'neither CRI-O nor containerd'],
    ['both runtimes', { 'config.dump': config, 'spec.dump': crioSpec, 'status.dump': {} }, 'both CRI-O and containerd'],
    ['CRI-O without the pod', { 'config.dump': config, 'spec.dump': { annotations: { 'io.kubernetes.cri-o.Annotations': '{}' } } }, 'does not name its pod'],
    ['spec.dump not an object', { 'config.dump': config, 'spec.dump': 'x' }, 'neither CRI-O nor containerd'],
  ])('refuses an archive with %s', (_what, entries, message) => {
    expect(() => archiveFacts(dumps(entries))).toThrow(ArchiveFactsError);
    expect(() => archiveFacts(dumps(entries))).toThrow(message);
  });
});

describe('archiveMismatch', () => {
  const facts = archiveFacts(dumps({ 'config.dump': config, 'spec.dump': crioSpec }));
  it('accepts the container asked for', () => {
    expect(archiveMismatch(facts, { namespace: 'shop', pod: 'web-0', container: 'app', podUid: 'uid-1' })).toBeUndefined();
    expect(archiveMismatch(facts, { namespace: 'shop', pod: 'web-0', container: 'app' })).toBeUndefined();
  });
  it.each([
    [{ namespace: 'other', pod: 'web-0', container: 'app' }, 'belongs to shop/web-0 container app'],
    [{ namespace: 'shop', pod: 'web-1', container: 'app' }, 'not to shop/web-1'],
    [{ namespace: 'shop', pod: 'web-0', container: 'side' }, 'container side'],
    [{ namespace: 'shop', pod: 'web-0', container: 'app', podUid: 'uid-2' }, 'pod UID uid-1'],
  ])('refuses another container’s archive: %j', (want, message) => {
    expect(archiveMismatch(facts, want)).toContain(message);
  });
});
