// Orphans and their grace, through the decision retention makes (chooseRetention), with the
// marks it asks the controller to write.
import { describe, expect, it } from 'vitest';
import type { RetentionPolicy } from '../../../src/api/types.ts';
import { chooseRetention, type RetentionCandidate, type RetentionInput } from '../../../src/retention/choose.ts';
import { identityKey, NO_LIVING_PODS } from '../../../src/retention/source-pod.ts';

const S = 1000;
const now = new Date('2026-03-10T12:00:00Z');
const ago = (seconds: number) => now.getTime() - seconds * S;

/** A checkpoint of the StatefulSet pod db-0 (StatefulSet db), taken 5 h ago. */
function sts(name: string, extra: Partial<RetentionCandidate> = {}): RetentionCandidate {
  return {
    namespace: 'apps', name, identity: 'db-0', containerName: 'app', timestampMs: ago(5 * 3600), sizeBytes: 100, state: 'good',
    workload: { kind: 'StatefulSet', name: 'db' }, podName: 'db-0', podUID: 'old-uid', ...extra,
  };
}

function decide(checkpoints: RetentionCandidate[], policy: RetentionPolicy | undefined, extra: Partial<RetentionInput> = {}) {
  const d = chooseRetention({
    checkpoints, policy, livingRestoredFrom: new Set(), pinned: new Set(),
    // The StatefulSet db and the Deployment api are gone.
    workloadExists: () => false,
    now,
    ...extra,
  });
  return {
    deleted: d.delete.map((x) => `${x.checkpoint.name}:${x.reason}`).sort(),
    marks: d.marks.map((m) => `${m.checkpoint.name}:${m.orphanedSince === null ? 'clear' : m.orphanedSince.getTime() === now.getTime() ? 'now' : m.orphanedSince.toISOString()}`).sort(),
  };
}

describe('orphan grace', () => {
  it.each([
    ['never marked: marked now, kept', undefined, undefined, { deleted: [], marks: ['c:now'] }],
    ['marked 3599 s ago: kept', ago(3599), undefined, { deleted: [], marks: [] }],
    ['marked 3600 s ago: deleted', ago(3600), undefined, { deleted: ['c:orphan'], marks: [] }],
    ['marked 3601 s ago: deleted', ago(3601), undefined, { deleted: ['c:orphan'], marks: [] }],
    ['grace 60, marked 59 s ago: kept', ago(59), 60, { deleted: [], marks: [] }],
    ['grace 60, marked 61 s ago: deleted', ago(61), 60, { deleted: ['c:orphan'], marks: [] }],
    ['grace 0, never marked: deleted at once', undefined, 0, { deleted: ['c:orphan'], marks: [] }],
    ['a malformed mark: marked again now, kept', Number.NaN, undefined, { deleted: [], marks: ['c:now'] }],
    ['a mark in the future (a clock ahead): marked again now, kept', now.getTime() + 600 * S, undefined, { deleted: [], marks: ['c:now'] }],
  ])('%s', (_name, mark, grace, expected) => {
    const policy = grace === undefined ? {} : { orphanGraceSeconds: grace };
    expect(decide([sts('c', mark === undefined ? {} : { orphanedSinceMs: mark })], policy)).toEqual(expected);
  });

  it('a StatefulSet deleted with --cascade=orphan: its pod lives on, so its checkpoints are no orphans however long, and a mark is cleared', () => {
    const living = { ...NO_LIVING_PODS, names: new Set(['apps/db-0']) };
    expect(decide([sts('c', { orphanedSinceMs: ago(7200) }), sts('d')], {}, { living })).toEqual({ deleted: [], marks: ['c:clear'] });
  });

  it('a Deployment deleted with --cascade=orphan: one living replica keeps the checkpoints of all its replicas', () => {
    const dep = (name: string, uid: string): RetentionCandidate =>
      sts(name, { identity: 'api', workload: { kind: 'Deployment', name: 'api' }, podName: `api-7c9-${uid}`, podUID: uid, orphanedSinceMs: ago(7200) });
    const cps = [dep('alive', 'u1'), dep('gone', 'u2')];
    expect(decide(cps, {}, { living: { ...NO_LIVING_PODS, uids: new Set(['u1']) } })).toEqual({ deleted: [], marks: ['alive:clear', 'gone:clear'] });
    // A pod of the identity that has no checkpoint yet counts as well (the input layer computes it from the pods).
    const identities = new Set([identityKey('apps', 'Deployment', 'api')]);
    expect(decide(cps, {}, { living: { ...NO_LIVING_PODS, identities } }).deleted).toEqual([]);
    expect(decide(cps, {}).deleted).toEqual(['alive:orphan', 'gone:orphan']);
  });

  it('the kind matters: a living Deployment pod of the same name does not keep a StatefulSet’s orphans', () => {
    const identities = new Set([identityKey('apps', 'Deployment', 'db-0')]);
    expect(decide([sts('c', { orphanedSinceMs: ago(7200) })], {}, { living: { ...NO_LIVING_PODS, identities } }).deleted).toEqual(['c:orphan']);
  });

  it('a re-applied workload clears the mark', () => {
    expect(decide([sts('c', { orphanedSinceMs: ago(7200) })], {}, { workloadExists: () => true })).toEqual({ deleted: [], marks: ['c:clear'] });
  });

  it('the grace counts from the identity’s newest checkpoint when the mark is older (a mark whose clearing was lost)', () => {
    const cps = [sts('old', { orphanedSinceMs: ago(7200) }), sts('newer', { timestampMs: ago(1800), orphanedSinceMs: ago(1800) })];
    expect(decide(cps, {}).deleted).toEqual([]);
    expect(decide(cps, {}, { now: new Date(now.getTime() + 1800 * S) }).deleted).toEqual(['newer:orphan', 'old:orphan']);
  });

  it('retainOrphan keeps them past the grace, and the mark still records since when', () => {
    expect(decide([sts('c', { orphanedSinceMs: ago(7200) }), sts('d')], { retainOrphan: true })).toEqual({ deleted: [], marks: ['d:now'] });
  });

  it('a pinned orphan is kept past the grace', () => {
    expect(decide([sts('c', { orphanedSinceMs: ago(7200) })], {}, { pinned: new Set(['apps/c']) }).deleted).toEqual([]);
  });

  it('a checkpoint that recorded no workload is never an orphan and never marked', () => {
    const { workload: _, ...bare } = sts('c');
    expect(decide([bare], {})).toEqual({ deleted: [], marks: [] });
  });
});
