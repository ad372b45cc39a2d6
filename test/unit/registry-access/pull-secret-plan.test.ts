// Which namespaces get a kcr-pull Secret written or removed, and the record the webhook reads.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatPullSecretRecord, parsePullSecretRecord, planPullSecrets, pullSecretEntryUsable, type PullSecretEntry,
} from '../../../src/registry-access/pull-secret-plan.ts';

const e = (epoch: number): PullSecretEntry => ({ epoch, rotationSeconds: 3600 });

describe('planPullSecrets', () => {
  it.each<[string, string[], Record<string, number>, { write: string[]; remove: string[] }]>([
    ['a new namespace gets one', ['a'], {}, { write: ['a'], remove: [] }],
    ['a current one is left alone', ['a'], { a: 10 }, { write: [], remove: [] }],
    ['an older period is rewritten', ['a'], { a: 9 }, { write: ['a'], remove: [] }],
    ['a namespace with nothing left loses it', [], { a: 10 }, { write: [], remove: ['a'] }],
    ['both at once, sorted', ['c', 'b'], { a: 10, b: 3 }, { write: ['b', 'c'], remove: ['a'] }],
  ])('%s', (_n, desired, recorded, plan) => {
    expect(planPullSecrets(new Set(desired), new Map(Object.entries(recorded).map(([k, v]) => [k, e(v)])), 10)).toEqual(plan);
  });

  it('after the plan is carried out, the record is exactly the desired namespaces at the current period, and a second plan is empty', () => {
    const ns = fc.constantFrom('a', 'b', 'c', 'team-a', 'team');
    fc.assert(fc.property(fc.uniqueArray(ns), fc.dictionary(ns, fc.integer({ min: 0, max: 12 })), fc.integer({ min: 0, max: 12 }), (desired, recorded, epoch) => {
      const record = new Map(Object.entries(recorded).map(([k, v]) => [k, e(v)]));
      const plan = planPullSecrets(new Set(desired), record, epoch);
      for (const w of plan.write) record.set(w, e(epoch));
      for (const r of plan.remove) record.delete(r);
      expect([...record.keys()].sort()).toEqual([...desired].sort());
      expect([...record.values()].every((x) => x.epoch === epoch)).toBe(true);
      expect(planPullSecrets(new Set(desired), record, epoch)).toEqual({ write: [], remove: [] });
    }));
  });
});

describe('the record', () => {
  it('round-trips and drops what is malformed', () => {
    const record = new Map([['b', e(2)], ['a', e(1)]]);
    expect(parsePullSecretRecord(formatPullSecretRecord(record))).toEqual(record);
    expect(parsePullSecretRecord({ 'namespaces.json': 'not json' }).size).toBe(0);
    expect(parsePullSecretRecord({ 'namespaces.json': '[]' }).size).toBe(0);
    expect(parsePullSecretRecord({ 'namespaces.json': JSON.stringify({ a: { epoch: 'x', rotationSeconds: 1 }, b: { epoch: 1, rotationSeconds: 0 }, c: e(3) }) })).toEqual(new Map([['c', e(3)]]));
    expect(parsePullSecretRecord(undefined).size).toBe(0);
  });

  it('an entry is usable for its period and the next one only', () => {
    const now = new Date(10 * 3600 * 1000 + 5);
    expect([8, 9, 10, 11].map((p) => pullSecretEntryUsable(e(p), now))).toEqual([false, true, true, false]);
  });
});
