import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RetentionPolicy } from '../../../src/api/types.ts';
import { chooseRetention, type RetentionCandidate, type RetentionInput } from '../../../src/retention/choose.ts';
import { identityKey, NO_LIVING_PODS, type LivingPods } from '../../../src/retention/source-pod.ts';

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

  it('deletes orphans past their grace unless retainOrphan', () => {
    const cps = [cp('gone', 180, { workload: { kind: 'StatefulSet', name: 'db' }, identity: 'db-0', orphanedSinceMs: now.getTime() - 2 * 3600_000 }), cp('here', 10, { identity: 'web-0' })];
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

  it('orders its lists the same whatever the input order, also for one name and time in two namespaces', () => {
    const a = cp('u', 5, { namespace: 'a' });
    const b = cp('u', 5, { namespace: 'b' });
    const base = { policy: undefined, livingRestoredFrom: new Set<string>(), pinned: new Set<string>(), workloadExists: () => true, now };
    const forward = chooseRetention({ ...base, checkpoints: [a, b] });
    const backward = chooseRetention({ ...base, checkpoints: [b, a] });
    expect(forward.keep.map((c) => c.namespace)).toEqual(['a', 'b']);
    expect(backward).toEqual(forward);
  });

  it('rejects a malformed maxTotalSize', () => {
    expect(() => run([cp('c', 1)], { maxTotalSize: '10 gigs' })).toThrow(/quantity/);
  });
});


// A Deployment's replicas share its identity; each replica is a source pod of its own (by uid).
const replica = (name: string, minutesAgo: number, uid: string, extra: Partial<RetentionCandidate> = {}) =>
  cp(name, minutesAgo, { podUID: uid, podName: `web-5d8f-${uid}`, ...extra });
const livingUids = (...uids: string[]): LivingPods => ({ ...NO_LIVING_PODS, uids: new Set(uids) });

describe('chooseRetention per source pod', () => {
  it('keeps maxCheckpointsPerContainer for every living replica of a Deployment, not for the Deployment', () => {
    const cps = ['u1', 'u2', 'u3'].flatMap((u) => [replica(`${u}-old`, 20, u), replica(`${u}-new`, 10, u)]);
    const r = run(cps, { maxCheckpointsPerContainer: 1 }, { living: livingUids('u1', 'u2', 'u3') });
    expect(r.kept).toEqual(['u1-new', 'u2-new', 'u3-new']);
    expect(r.deleted).toEqual(['u1-old:count', 'u2-old:count', 'u3-old:count']);
  });

  it('never deletes the newest good checkpoint of a living replica: not for maxTotalSize, not with a count of 0', () => {
    const cps = [replica('a', 10, 'u1', { sizeBytes: 5000 }), replica('b', 10, 'u2', { sizeBytes: 5000 }), replica('b-old', 20, 'u2', { sizeBytes: 5000 })];
    expect(run(cps, { maxTotalSize: '1k' }, { living: livingUids('u1', 'u2') }).deleted).toEqual(['b-old:size']);
    expect(run(cps, { maxCheckpointsPerContainer: 0 }, { living: livingUids('u1', 'u2') }).kept).toEqual(['a', 'b']);
  });

  it('its newest good one, not a newer failure: the failure counts after it', () => {
    const cps = [replica('good', 20, 'u1'), replica('failed', 10, 'u1', { state: 'failed' })];
    const r = run(cps, { maxCheckpointsPerContainer: 1 }, { living: livingUids('u1') });
    expect(r).toEqual({ kept: ['good'], deleted: ['failed:count'] });
  });

  it('replicas that are gone share one allowance, the newest of each gone replica first', () => {
    // g1..g4 are gone; each has a newer and an older checkpoint, g4's newest being the oldest "newest".
    const cps = [
      replica('g1-new', 10, 'g1'), replica('g1-old', 11, 'g1'),
      replica('g2-new', 12, 'g2'), replica('g2-old', 13, 'g2'),
      replica('g3-new', 14, 'g3'), replica('g3-old', 15, 'g3'),
      replica('g4-new', 30, 'g4'), replica('g4-old', 31, 'g4'),
      replica('live', 50, 'u1'),
    ];
    const r = run(cps, { maxCheckpointsPerContainer: 3 }, { living: livingUids('u1') });
    expect(r.kept).toEqual(['g1-new', 'g2-new', 'g3-new', 'live']);
    expect(r.deleted).toEqual(['g1-old:count', 'g2-old:count', 'g3-old:count', 'g4-new:count', 'g4-old:count']);
  });

  it('a failed checkpoint is judged against its own replica’s newest good one', () => {
    // f1 is older than u2's good one but newer than u1's: only u1 decides about it.
    const cps = [replica('u1-good', 30, 'u1'), replica('u1-failed', 20, 'u1', { state: 'failed' }), replica('u2-good', 10, 'u2')];
    expect(run(cps, { maxCheckpointsPerContainer: 3 }, { living: livingUids('u1', 'u2') }).deleted).toEqual([]);
  });

  it('without a recorded uid a replica is known by its pod name', () => {
    const byName = (name: string, minutesAgo: number, pod: string) => cp(name, minutesAgo, { podName: pod });
    const cps = [byName('a1', 20, 'web-x'), byName('a2', 10, 'web-x'), byName('b1', 20, 'web-y'), byName('b2', 10, 'web-y')];
    const r = run(cps, { maxCheckpointsPerContainer: 1 }, { living: { ...NO_LIVING_PODS, names: new Set(['apps/web-x', 'apps/web-y']) } });
    expect(r.kept).toEqual(['a2', 'b2']);
  });

  it('a StatefulSet pod is one source whatever uid each of its incarnations had', () => {
    const sts = (name: string, minutesAgo: number, uid: string) =>
      cp(name, minutesAgo, { identity: 'db-0', podName: 'db-0', podUID: uid, workload: { kind: 'StatefulSet', name: 'db' } });
    const cps = [sts('old-1', 40, 'first'), sts('old-2', 30, 'first'), sts('new-1', 20, 'second'), sts('new-2', 10, 'second')];
    const r = run(cps, { maxCheckpointsPerContainer: 2 }, { living: { uids: new Set(['second']), names: new Set(['apps/db-0']), identities: new Set() } });
    expect(r.kept).toEqual(['new-1', 'new-2']);
    // Its newest good one is the living pod's: kept even when the size cap alone would take it.
    expect(run(cps, { maxTotalSize: '1' }, { living: { ...NO_LIVING_PODS, names: new Set(['apps/db-0']) } }).kept).toEqual(['new-2']);
  });

  it('the workload kind is part of the group: a Deployment web-0 and the StatefulSet pod web-0 keep theirs apart', () => {
    const cps = [
      cp('dep-old', 40, { identity: 'web-0', workload: { kind: 'Deployment', name: 'web-0' } }),
      cp('dep-new', 30, { identity: 'web-0', workload: { kind: 'Deployment', name: 'web-0' } }),
      cp('sts-old', 20, { identity: 'web-0', workload: { kind: 'StatefulSet', name: 'web' } }),
      cp('sts-new', 10, { identity: 'web-0', workload: { kind: 'StatefulSet', name: 'web' } }),
    ];
    const r = run(cps, { maxCheckpointsPerContainer: 1 });
    expect(r.kept).toEqual(['dep-new', 'sts-new']);
    expect(r.deleted).toEqual(['dep-old:count', 'sts-old:count']);
  });
});

describe('chooseRetention properties', () => {
  const NOW = 2000;
  const STALE_BEFORE = 500; // now - staleInFlightMs
  const replicas = ['r1', 'r2', 'r3'];
  // A Deployment's replicas each have a uid; a StatefulSet pod (identity = its name) had several incarnations.
  const arbCp = fc.record({
    name: fc.stringMatching(/^[a-z]{1,6}$/),
    namespace: fc.constantFrom('a', 'b'),
    kind: fc.constantFrom('Deployment', 'StatefulSet'),
    identity: fc.constantFrom('web', 'db'),
    containerName: fc.constantFrom('app', 'side'),
    replica: fc.constantFrom(...replicas),
    timestampMs: fc.integer({ min: 0, max: 1000 }),
    sizeBytes: fc.integer({ min: 0, max: 1000 }),
    state: fc.constantFrom('good', 'good', 'failed', 'inflight') as fc.Arbitrary<RetentionCandidate['state']>,
    mark: fc.option(fc.oneof(fc.integer({ min: 0, max: 2500 }), fc.constant(Number.NaN)), { nil: undefined }),
  }).map((g): RetentionCandidate => {
    const c: RetentionCandidate = {
      namespace: g.namespace, name: g.name, identity: g.identity, containerName: g.containerName,
      timestampMs: g.timestampMs, sizeBytes: g.sizeBytes, state: g.state,
      podUID: `${g.namespace}-${g.kind}-${g.identity}-${g.replica}`,
      podName: g.kind === 'Deployment' ? `${g.identity}-${g.replica}` : g.identity,
      workload: g.kind === 'Deployment' ? { kind: 'Deployment', name: g.identity } : { kind: 'StatefulSet', name: 'set' },
    };
    if (g.mark !== undefined) c.orphanedSinceMs = g.mark;
    return c;
  });
  const everyUid = ['a', 'b'].flatMap((ns) => ['Deployment', 'StatefulSet'].flatMap((k) => ['web', 'db'].flatMap((id) => replicas.map((r) => `${ns}-${k}-${id}-${r}`))));
  const everyPodName = ['a', 'b'].flatMap((ns) => ['web', 'db'].map((id) => `${ns}/${id}`));
  const everyIdentity = ['a', 'b'].flatMap((ns) => ['Deployment', 'StatefulSet'].flatMap((k) => ['web', 'db'].map((id) => identityKey(ns, k, id))));
  const everyWorkload = ['a', 'b'].flatMap((ns) => [`${ns}/Deployment/web`, `${ns}/Deployment/db`, `${ns}/StatefulSet/set`]);
  const arbInput = fc.record({
    checkpoints: fc.uniqueArray(arbCp, { selector: (c) => `${c.namespace}/${c.name}`, maxLength: 30 }),
    policy: fc.record(
      {
        maxCheckpointsPerContainer: fc.integer({ min: 0, max: 4 }),
        maxTotalSize: fc.constantFrom('0', '500', '2k', '1Mi'),
        retainOrphan: fc.boolean(),
        orphanGraceSeconds: fc.constantFrom(0, 1),
      },
      { requiredKeys: [] },
    ),
    protectedNames: fc.array(fc.stringMatching(/^[a-z]{1,6}$/), { maxLength: 5 }),
    livingUids: fc.subarray(everyUid),
    livingNames: fc.subarray(everyPodName),
    livingIdentities: fc.subarray(everyIdentity),
    workloads: fc.subarray(everyWorkload),
  });
  type Generated = typeof arbInput extends fc.Arbitrary<infer T> ? T : never;
  const toInput = (x: Generated): RetentionInput => ({
    checkpoints: x.checkpoints,
    policy: x.policy,
    livingRestoredFrom: new Set(x.protectedNames.slice(0, 2).map((n) => `a/${n}`)),
    pinned: new Set(x.protectedNames.slice(2).map((n) => `b/${n}`)),
    workloadExists: (ns, w) => x.workloads.includes(`${ns}/${w.kind}/${w.name}`),
    living: { uids: new Set(x.livingUids), names: new Set(x.livingNames), identities: new Set(x.livingIdentities) },
    now: new Date(NOW),
    staleInFlightMs: NOW - STALE_BEFORE,
  });
  const key = (c: RetentionCandidate) => `${c.namespace}/${c.name}`;
  const isProtected = (i: RetentionInput, c: RetentionCandidate) => i.livingRestoredFrom.has(key(c)) || i.pinned.has(key(c));
  const freshInFlight = (c: RetentionCandidate) => c.state === 'inflight' && c.timestampMs >= STALE_BEFORE;
  // The model, written from the README's rules: a Deployment replica is its own source, a StatefulSet pod one source.
  const isDeployment = (c: RetentionCandidate) => c.workload?.kind === 'Deployment';
  const living = (i: RetentionInput, c: RetentionCandidate) => (isDeployment(c) ? i.living!.uids.has(c.podUID!) : i.living!.names.has(`${c.namespace}/${c.identity}`));
  const identityOf = (c: RetentionCandidate) => identityKey(c.namespace, c.workload!.kind, c.identity);
  const sourceGroup = (i: RetentionInput, c: RetentionCandidate) =>
    JSON.stringify([identityOf(c), c.containerName, isDeployment(c) ? (living(i, c) ? c.podUID : 'gone') : 'pod']);
  /** The newest good checkpoints of each living source (all of them on a tie). */
  const newestGoodOfLiving = (i: RetentionInput): Set<RetentionCandidate> => {
    const best = new Map<string, RetentionCandidate[]>();
    for (const c of i.checkpoints) {
      if (c.state !== 'good' || !living(i, c)) continue;
      const k = sourceGroup(i, c);
      const b = best.get(k);
      if (!b || b[0]!.timestampMs < c.timestampMs) best.set(k, [c]);
      else if (b[0]!.timestampMs === c.timestampMs) b.push(c);
    }
    return new Set([...best.values()].flat());
  };

  it('never deletes a protected or in-flight checkpoint; keep and delete partition the input', () => {
    fc.assert(
      fc.property(arbInput, (x) => {
        const input = toInput(x);
        const d = chooseRetention(input);
        for (const { checkpoint } of d.delete) {
          expect(isProtected(input, checkpoint)).toBe(false);
          expect(freshInFlight(checkpoint)).toBe(false);
        }
        expect(d.keep.length + d.delete.length).toBe(x.checkpoints.length);
      }),
    );
  }, 30_000);

  it('never deletes the newest good checkpoint of a living source pod, whatever the count and size', () => {
    fc.assert(
      fc.property(arbInput, (x) => {
        const input = toInput(x);
        const kept = new Set(chooseRetention(input).keep);
        const groups = new Map<string, RetentionCandidate[]>();
        for (const c of newestGoodOfLiving(input)) groups.set(sourceGroup(input, c), [...(groups.get(sourceGroup(input, c)) ?? []), c]);
        for (const tied of groups.values()) expect(tied.some((c) => kept.has(c))).toBe(true);
      }),
    );
  }, 30_000);

  it('deletes an orphan only when its workload is gone, no pod of its identity lives, and the grace has passed since the mark', () => {
    fc.assert(
      fc.property(arbInput, (x) => {
        const input = toInput(x);
        const graceMs = (x.policy.orphanGraceSeconds ?? 3600) * 1000;
        for (const { checkpoint: c, reason } of chooseRetention(input).delete) {
          if (reason !== 'orphan') continue;
          expect(x.policy.retainOrphan).not.toBe(true);
          expect(input.workloadExists(c.namespace, c.workload!)).toBe(false);
          expect(input.living!.identities.has(identityOf(c))).toBe(false);
          const sameIdentity = x.checkpoints.filter((o) => identityOf(o) === identityOf(c));
          expect(sameIdentity.some((o) => living(input, o))).toBe(false);
          // Orphaned for the grace: since the mark, and since the identity's newest checkpoint.
          if (graceMs > 0) expect(NOW - c.orphanedSinceMs!).toBeGreaterThanOrEqual(graceMs);
          for (const o of sameIdentity) expect(NOW - o.timestampMs).toBeGreaterThanOrEqual(graceMs);
        }
      }),
    );
  }, 30_000);

  it('keeps at most max unprotected settled checkpoints per living source pod, and per identity for the gone ones', () => {
    fc.assert(
      fc.property(arbInput, (x) => {
        const input = toInput(x);
        const max = x.policy.maxCheckpointsPerContainer ?? 3;
        const counts = new Map<string, { n: number; living: boolean }>();
        for (const c of chooseRetention(input).keep) {
          if (isProtected(input, c) || freshInFlight(c)) continue;
          const k = sourceGroup(input, c);
          counts.set(k, { n: (counts.get(k)?.n ?? 0) + 1, living: living(input, c) });
        }
        // A living source keeps its newest good one even when max is 0.
        for (const { n, living: l } of counts.values()) expect(n).toBeLessThanOrEqual(l ? Math.max(max, 1) : max);
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

  it('never crosses namespaces: the decision and the marks for one namespace ignore the others', () => {
    fc.assert(
      fc.property(arbInput, (x) => {
        const all = chooseRetention(toInput(x));
        const onlyA = chooseRetention({ ...toInput(x), checkpoints: x.checkpoints.filter((c) => c.namespace === 'a') });
        expect(all.delete.filter((d) => d.checkpoint.namespace === 'a')).toEqual(onlyA.delete);
        expect(all.marks.filter((m) => m.checkpoint.namespace === 'a')).toEqual(onlyA.marks);
      }),
    );
  }, 30_000);

  it('keeps the kinds apart: without a size cap, a StatefulSet’s checkpoints are decided as if no Deployment had its name', () => {
    fc.assert(
      fc.property(arbInput, (x) => {
        const policy = { ...x.policy };
        delete policy.maxTotalSize;
        const sts = (c: RetentionCandidate) => c.workload?.kind === 'StatefulSet';
        const all = chooseRetention({ ...toInput(x), policy });
        const onlySts = chooseRetention({ ...toInput(x), policy, checkpoints: x.checkpoints.filter(sts) });
        expect(all.delete.filter((d) => sts(d.checkpoint))).toEqual(onlySts.delete);
        expect(all.marks.filter((m) => sts(m.checkpoint))).toEqual(onlySts.marks);
      }),
    );
  }, 30_000);

  it('keeps the unprotected kept size within maxTotalSize whenever that is possible', () => {
    fc.assert(
      fc.property(arbInput, (x) => {
        const input = toInput(x);
        if (x.policy.maxTotalSize === undefined) return;
        const cap = { '0': 0, '500': 500, '2k': 2000, '1Mi': 2 ** 20 }[x.policy.maxTotalSize]!;
        const needed = newestGoodOfLiving(input);
        for (const ns of ['a', 'b']) {
          const kept = chooseRetention(input).keep.filter((c) => c.namespace === ns);
          const total = kept.reduce((s, c) => s + c.sizeBytes, 0);
          const undeletable = kept.filter((c) => isProtected(input, c) || freshInFlight(c) || needed.has(c)).reduce((s, c) => s + c.sizeBytes, 0);
          expect(total <= cap || total === undeletable).toBe(true);
        }
      }),
    );
  }, 30_000);

  it('marks only kept orphans with now, clears only marks that exist, and asks for nothing once its marks are written', () => {
    fc.assert(
      fc.property(arbInput, (x) => {
        const input = toInput(x);
        const d = chooseRetention(input);
        const kept = new Set(d.keep);
        const written = new Map<RetentionCandidate, RetentionCandidate>();
        for (const { checkpoint: c, orphanedSince } of d.marks) {
          expect(kept.has(c)).toBe(true);
          if (orphanedSince === null) {
            expect(c.orphanedSinceMs).toBeDefined();
          } else {
            expect(orphanedSince.getTime()).toBe(NOW);
            expect(input.workloadExists(c.namespace, c.workload!)).toBe(false);
            expect(input.living!.identities.has(identityOf(c))).toBe(false);
          }
          const next = { ...c };
          if (orphanedSince === null) delete next.orphanedSinceMs;
          else next.orphanedSinceMs = orphanedSince.getTime();
          written.set(c, next);
        }
        const again = chooseRetention({ ...input, checkpoints: x.checkpoints.map((c) => written.get(c) ?? c) });
        expect(again.marks).toEqual([]);
      }),
    );
  }, 30_000);
});
