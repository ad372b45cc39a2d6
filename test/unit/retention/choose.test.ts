import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RetentionPolicy } from '../../../src/api/types.ts';
import { chooseRetention, type RetentionCandidate, type RetentionInput } from '../../../src/retention/choose.ts';

const MIN = 60_000;
const now = new Date('2026-03-10T12:00:00Z');

function cp(name: string, minutesAgo: number, extra: Partial<RetentionCandidate> = {}): RetentionCandidate {
  return {
    namespace: 'apps',
    name,
    identity: 'web',
    containerName: 'app',
    timestampMs: now.getTime() - minutesAgo * MIN,
    sizeBytes: 100,
    state: 'good',
    workload: { kind: 'Deployment', name: 'web' },
    ...extra,
  };
}

function run(checkpoints: RetentionCandidate[], policy: RetentionPolicy | undefined, extra: Partial<RetentionInput> = {}) {
  const d = chooseRetention({
    checkpoints,
    policy,
    livingRestoredFrom: new Set(),
    pinned: new Set(),
    workloadExists: () => true,
    now,
    ...extra,
  });
  return {
    deleted: d.delete.map((x) => `${x.checkpoint.name}:${x.reason}`).sort(),
    kept: d.keep.map((x) => x.name).sort(),
  };
}

describe('chooseRetention', () => {
  it('keeps the newest 3 per container by default', () => {
    const r = run([cp('c1', 50), cp('c2', 40), cp('c3', 30), cp('c4', 20), cp('c5', 10)], undefined);
    expect(r.kept).toEqual(['c3', 'c4', 'c5']);
    expect(r.deleted).toEqual(['c1:count', 'c2:count']);
  });

  it('counts per (namespace, identity, container)', () => {
    const r = run(
      [
        cp('a1', 30), cp('a2', 20),
        cp('s1', 30, { containerName: 'sidecar' }), cp('s2', 20, { containerName: 'sidecar' }),
        cp('o1', 30, { identity: 'web-1' }), cp('o2', 20, { identity: 'web-1' }),
        cp('n1', 30, { namespace: 'other' }), cp('n2', 20, { namespace: 'other' }),
      ],
      { maxCheckpointsPerContainer: 1 },
    );
    expect(r.kept).toEqual(['a2', 'n2', 'o2', 's2']);
  });

  it('never deletes a checkpoint restored into a living pod or pinned by a RestoreRequest', () => {
    const r = run([cp('old-restored', 90), cp('old-pinned', 80), cp('c1', 20), cp('c2', 10)], { maxCheckpointsPerContainer: 1 }, {
      livingRestoredFrom: new Set(['apps/old-restored']),
      pinned: new Set(['apps/old-pinned']),
    });
    expect(r.kept).toEqual(['c2', 'old-pinned', 'old-restored']);
    expect(r.deleted).toEqual(['c1:count']);
  });

  it('deletes orphans unless retainOrphan', () => {
    const cps = [cp('gone', 10, { workload: { kind: 'StatefulSet', name: 'db' } }), cp('here', 10, { identity: 'web-0' })];
    const exists = (_ns: string, w: { name: string }) => w.name !== 'db';
    expect(run(cps, {}, { workloadExists: exists }).deleted).toEqual(['gone:orphan']);
    expect(run(cps, { retainOrphan: true }, { workloadExists: exists }).deleted).toEqual([]);
  });

  it('deletes failed checkpoints older than the newest good one and keeps newer failures within the count', () => {
    const r = run(
      [cp('f-old', 40, { state: 'failed' }), cp('good', 30), cp('f-new', 20, { state: 'failed' }), cp('f-newer', 10, { state: 'failed' })],
      { maxCheckpointsPerContainer: 2 },
    );
    expect(r.deleted).toEqual(['f-new:count', 'f-old:failed']);
    expect(r.kept).toEqual(['f-newer', 'good']);
  });

  it('never deletes checkpoints still being built, and does not count them', () => {
    const r = run([cp('c1', 30), cp('c2', 20), cp('building', 1, { state: 'inflight' })], { maxCheckpointsPerContainer: 2 });
    expect(r.deleted).toEqual([]);
  });

  it('treats an in-flight checkpoint older than the stale limit as failed', () => {
    const r = run([cp('stuck', 7 * 60, { state: 'inflight' }), cp('good', 10), cp('young', 1, { state: 'inflight' })], {});
    expect(r.deleted).toEqual(['stuck:failed']);
    expect(run([cp('stuck', 7 * 60, { state: 'inflight' }), cp('good', 10)], {}, { staleInFlightMs: 8 * 3600_000 }).deleted).toEqual([]);
  });

  it('enforces maxTotalSize by deleting the oldest first, failed before good', () => {
    const gib = 2 ** 30;
    const r = run(
      [cp('c1', 40, { sizeBytes: gib }), cp('c2', 30, { sizeBytes: gib }), cp('c3', 20, { sizeBytes: gib }),
        cp('f', 10, { sizeBytes: gib, state: 'failed', identity: 'other' })],
      { maxCheckpointsPerContainer: 5, maxTotalSize: '2Gi' },
    );
    expect(r.deleted).toEqual(['c1:size', 'f:size']);
    expect(r.kept).toEqual(['c2', 'c3']);
  });

  it('size cap keeps protected checkpoints even when they alone exceed it', () => {
    const r = run([cp('p', 20, { sizeBytes: 5000 }), cp('c', 10, { sizeBytes: 10 })], { maxTotalSize: '1k' }, { pinned: new Set(['apps/p']) });
    expect(r.deleted).toEqual(['c:size']);
  });

  it('rejects a malformed maxTotalSize', () => {
    expect(() => run([cp('c', 1)], { maxTotalSize: '10 gigs' })).toThrow(/quantity/);
  });
});

describe('chooseRetention properties', () => {
  const arbCp = fc.record({
    name: fc.stringMatching(/^[a-z]{1,6}$/),
    namespace: fc.constantFrom('a', 'b'),
    identity: fc.constantFrom('web', 'db'),
    containerName: fc.constantFrom('app', 'side'),
    timestampMs: fc.integer({ min: 0, max: 1000 }),
    sizeBytes: fc.integer({ min: 0, max: 1000 }),
    state: fc.constantFrom('good', 'good', 'failed', 'inflight') as fc.Arbitrary<RetentionCandidate['state']>,
    workload: fc.constantFrom({ kind: 'Deployment', name: 'web' }, { kind: 'StatefulSet', name: 'gone' }),
  });
  const arbInput = fc.record({
    checkpoints: fc.uniqueArray(arbCp, { selector: (c) => `${c.namespace}/${c.name}`, maxLength: 30 }),
    policy: fc.record(
      {
        maxCheckpointsPerContainer: fc.integer({ min: 0, max: 4 }),
        maxTotalSize: fc.constantFrom('0', '500', '2k', '1Mi'),
        retainOrphan: fc.boolean(),
      },
      { requiredKeys: [] },
    ),
    protectedNames: fc.array(fc.stringMatching(/^[a-z]{1,6}$/), { maxLength: 5 }),
  });
  type Generated = typeof arbInput extends fc.Arbitrary<infer T> ? T : never;
  const toInput = (x: Generated): RetentionInput => ({
    checkpoints: x.checkpoints,
    policy: x.policy,
    livingRestoredFrom: new Set(x.protectedNames.slice(0, 2).map((n) => `a/${n}`)),
    pinned: new Set(x.protectedNames.slice(2).map((n) => `b/${n}`)),
    workloadExists: (_ns, w) => w.name !== 'gone',
    now: new Date(2000),
    staleInFlightMs: 1500,
  });
  const isProtected = (i: RetentionInput, c: RetentionCandidate) =>
    i.livingRestoredFrom.has(`${c.namespace}/${c.name}`) || i.pinned.has(`${c.namespace}/${c.name}`);

  it('never deletes a protected or in-flight checkpoint; keep and delete partition the input', () => {
    fc.assert(
      fc.property(arbInput, (x) => {
        const input = toInput(x);
        const d = chooseRetention(input);
        for (const { checkpoint } of d.delete) {
          expect(isProtected(input, checkpoint)).toBe(false);
          // In-flight ones are deleted only once stale (older than now - 1500 ms = 500).
          if (checkpoint.state === 'inflight') expect(checkpoint.timestampMs).toBeLessThan(500);
        }
        expect(d.keep.length + d.delete.length).toBe(x.checkpoints.length);
      }),
    );
  }, 30_000);

  it('keeps at most max unprotected settled checkpoints per container', () => {
    fc.assert(
      fc.property(arbInput, (x) => {
        const input = toInput(x);
        const max = x.policy.maxCheckpointsPerContainer ?? 3;
        const counts = new Map<string, number>();
        for (const c of chooseRetention(input).keep) {
          if (isProtected(input, c) || (c.state === 'inflight' && c.timestampMs >= 500)) continue;
          const k = `${c.namespace}/${c.identity}/${c.containerName}`;
          counts.set(k, (counts.get(k) ?? 0) + 1);
        }
        for (const n of counts.values()) expect(n).toBeLessThanOrEqual(max);
      }),
    );
  }, 30_000);

  it('is deterministic and independent of input order', () => {
    fc.assert(
      fc.property(arbInput, (x) => {
        const a = chooseRetention(toInput(x));
        const b = chooseRetention({ ...toInput(x), checkpoints: [...x.checkpoints].reverse() });
        expect(b).toEqual(a);
      }),
    );
  }, 30_000);

  it('never crosses namespaces: the decision for one namespace ignores the others', () => {
    fc.assert(
      fc.property(arbInput, (x) => {
        const all = chooseRetention(toInput(x));
        const onlyA = chooseRetention({ ...toInput(x), checkpoints: x.checkpoints.filter((c) => c.namespace === 'a') });
        expect(all.delete.filter((d) => d.checkpoint.namespace === 'a')).toEqual(onlyA.delete);
      }),
    );
  }, 30_000);

  it('keeps the unprotected kept size within maxTotalSize whenever that is possible', () => {
    fc.assert(
      fc.property(arbInput, (x) => {
        const input = toInput(x);
        if (x.policy.maxTotalSize === undefined) return;
        const cap = { '0': 0, '500': 500, '2k': 2000, '1Mi': 2 ** 20 }[x.policy.maxTotalSize]!;
        for (const ns of ['a', 'b']) {
          const kept = chooseRetention(input).keep.filter((c) => c.namespace === ns);
          const total = kept.reduce((s, c) => s + c.sizeBytes, 0);
          const undeletable = kept.filter((c) => isProtected(input, c) || (c.state === 'inflight' && c.timestampMs >= 500)).reduce((s, c) => s + c.sizeBytes, 0);
          expect(total <= cap || total === undeletable).toBe(true);
        }
      }),
    );
  }, 30_000);
});
