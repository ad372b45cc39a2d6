// The registry sweep deletes only kcr's manifests that no Checkpoint refers to, after a grace.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planRegistrySweep, type StoredManifest } from '../../../src/retention/registry-sweep-plan.ts';

const dg = (c: string) => `sha256:${c.repeat(64)}`;
const m = (repository: string, c: string): StoredManifest => ({ repository, digest: dg(c) });
const key = (x: StoredManifest) => `${x.repository}@${x.digest}`;
const now = new Date('2026-12-03T12:00:00Z');
const HOUR = 3600_000;

describe('planRegistrySweep', () => {
  const base = { prefix: 'kcr', graceMs: HOUR, now };

  it('first sight of an unreferenced manifest only starts its grace; past the grace it goes', () => {
    const orphan = m('kcr/team-a/web-0', 'a');
    const first = planRegistrySweep({ ...base, stored: [orphan], referenced: new Set(), firstUnreferenced: new Map() });
    expect(first.delete).toEqual([]);
    expect(first.firstUnreferenced.get(key(orphan))).toBe(now.getTime());
    const almost = planRegistrySweep({ ...base, stored: [orphan], referenced: new Set(), firstUnreferenced: new Map([[key(orphan), now.getTime() - HOUR + 1]]) });
    expect(almost.delete).toEqual([]);
    const due = planRegistrySweep({ ...base, stored: [orphan], referenced: new Set(), firstUnreferenced: new Map([[key(orphan), now.getTime() - HOUR]]) });
    expect(due.delete).toEqual([orphan]);
    expect(due.firstUnreferenced.size).toBe(0);
  });

  it.each<[string, StoredManifest, Partial<Parameters<typeof planRegistrySweep>[0]>]>([
    ['referenced by a Checkpoint', m('kcr/team-a/web-0', 'b'), { referenced: new Set([`kcr/team-a/web-0@${dg('b')}`]) }],
    ['outside kcr’s prefix', m('other/team-a/web-0', 'c'), {}],
    ['a name like the prefix', m('kcrx/team-a/web-0', 'c'), {}],
    ['a namespace this controller does not reconcile', m('kcr/team-b/web-0', 'd'), { onlyNamespaces: ['team-a'] }],
  ])('keeps a manifest %s, however old', (_n, stored, extra) => {
    const plan = planRegistrySweep({ ...base, stored: [stored], referenced: new Set(), firstUnreferenced: new Map([[key(stored), 0]]), ...extra });
    expect(plan.delete).toEqual([]);
  });

  it('a manifest referenced again loses its grace clock', () => {
    const x = m('kcr/team-a/web-0', 'e');
    const plan = planRegistrySweep({ ...base, stored: [x], referenced: new Set([key(x)]), firstUnreferenced: new Map([[key(x), 0]]) });
    expect(plan.firstUnreferenced.has(key(x))).toBe(false);
  });

  it('never deletes a referenced manifest, and lists each deleted one once', () => {
    const repo = fc.constantFrom('kcr/a/x', 'kcr/b/y', 'other/c/z');
    const digest = fc.constantFrom('1', '2', '3');
    fc.assert(fc.property(fc.array(fc.tuple(repo, digest)), fc.array(fc.tuple(repo, digest)), (storedPairs, refPairs) => {
      const stored = storedPairs.map(([r, d]) => m(r, d));
      const referenced = new Set(refPairs.map(([r, d]) => key(m(r, d))));
      const plan = planRegistrySweep({ ...base, stored, referenced, firstUnreferenced: new Map(stored.map((s) => [key(s), 0])) });
      for (const d of plan.delete) {
        expect(referenced.has(key(d))).toBe(false);
        expect(d.repository.startsWith('kcr/')).toBe(true);
      }
      expect(new Set(plan.delete.map(key)).size).toBe(plan.delete.length);
    }));
  });
});
