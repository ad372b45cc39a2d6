// Which restored containers run from their checkpoint, and which of them are new since the last pass.
import { describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../../src/api/types.ts';
import { RestoreTally, runningRestores } from '../../../src/restore/restore-outcomes.ts';
import { historyAnnotation } from '../../../src/restore/in-place-restore.ts';
import type { PodLike } from '../../../src/restore/pod-like.ts';

const IMAGE = 'reg/kcr/ns/web-0-app@sha256:aa';
const checkpoint = { metadata: { name: 'cp-1', namespace: 'ns' }, spec: {}, status: { runtimeImage: IMAGE } } as unknown as Checkpoint;

function pod(over: { uid?: string; image?: string; startedAt?: string; annotations?: Record<string, string>; waiting?: boolean } = {}): PodLike {
  return {
    metadata: { name: 'web-0', namespace: 'ns', uid: over.uid ?? 'u1', annotations: { 'kcr.io/restored-from.app': 'cp-1', ...over.annotations } },
    spec: { containers: [{ name: 'app', image: over.image ?? IMAGE }] },
    status: {
      containerStatuses: [{ name: 'app', state: over.waiting ? { waiting: { reason: 'CreateContainerError' } } : { running: { startedAt: over.startedAt ?? '2026-01-01T00:00:00Z' } } }],
    },
  } as PodLike;
}

describe('runningRestores', () => {
  it('lists a replacement running its checkpoint image', () => {
    expect(runningRestores([pod()], [checkpoint])).toEqual([{ key: 'u1/app/2026-01-01T00:00:00Z', kind: 'replacement', namespace: 'ns', pod: 'web-0', container: 'app', checkpoint: 'cp-1' }]);
  });

  it('calls it in-place when the controller restored the container in place', () => {
    expect(runningRestores([pod({ annotations: { [historyAnnotation('app')]: '{}' } })], [checkpoint])[0]?.kind).toBe('in-place');
  });

  it.each([
    ['not running (its restore failed)', pod({ waiting: true })],
    ['set back to another image', pod({ image: 'nginx:1' })],
    ['from a checkpoint that is not known', pod({ annotations: { 'kcr.io/restored-from.app': 'cp-2' } })],
    ['not restored at all', { ...pod(), metadata: { name: 'web-0', namespace: 'ns', uid: 'u1' } } as PodLike],
  ])('leaves out a container %s', (_what, p) => {
    expect(runningRestores([p], [checkpoint])).toEqual([]);
  });
});

describe('RestoreTally', () => {
  it('counts each run once, nothing on its first pass, and a new run of the same container again', () => {
    const tally = new RestoreTally();
    expect(tally.newlyRunning(runningRestores([pod({ uid: 'old' })], [checkpoint]))).toEqual([]);
    const first = runningRestores([pod({ uid: 'old' }), pod({ uid: 'u1' })], [checkpoint]);
    expect(tally.newlyRunning(first).map((r) => r.key)).toEqual(['u1/app/2026-01-01T00:00:00Z']);
    expect(tally.newlyRunning(first)).toEqual([]);
    const restarted = runningRestores([pod({ uid: 'u1', startedAt: '2026-01-01T00:05:00Z' })], [checkpoint]);
    expect(tally.newlyRunning(restarted).map((r) => r.key)).toEqual(['u1/app/2026-01-01T00:05:00Z']);
  });
});
