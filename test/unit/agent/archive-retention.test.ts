import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMPTY_LEDGER, withArchive, type ArchiveLedger, type LedgerEntry } from '../../../src/agent/archive-ledger.ts';
import { archivePrefix } from '../../../src/agent/archive-path.ts';
import { archiveRetention, type ArchiveOwner } from '../../../src/agent/archive-retention.ts';

const owner = { pod: 'web-0', namespace: 'apps', container: 'app' };
const name = (min: number, container = 'app', pod = 'web-0') => `checkpoint-${pod}_apps-${container}-2026-11-24T08:${String(min).padStart(2, '0')}:00Z.tar`;
const entry = (o: ArchiveOwner, podUid = 'uid'): LedgerEntry => ({ ...o, podUid, requestUid: 'req', recordedAt: '2026-11-24T09:00:00Z' });
const ledgerOf = (rows: Array<[string, ArchiveOwner]>): ArchiveLedger => rows.reduce((l, [n, o]) => withArchive(l, n, entry(o)), EMPTY_LEDGER);
const mine = (...mins: number[]) => ledgerOf(mins.map((m) => [name(m), owner]));
const sorted = (xs: string[]) => [...xs].sort();

describe('archive retention on the node', () => {
  it('keeps the newest N recorded archives of the container and deletes the older ones', () => {
    const names = [name(1), name(3), name(2), name(4)];
    const ledger = mine(1, 2, 3, 4);
    expect(sorted(archiveRetention(ledger, names, owner, 1).remove)).toEqual(sorted([name(1), name(2), name(3)]));
    expect(sorted(archiveRetention(ledger, names, owner, 2).remove)).toEqual(sorted([name(1), name(2)]));
    expect(sorted(archiveRetention(ledger, names, owner, 0).remove)).toEqual(sorted(names));
    expect(archiveRetention(ledger, names, owner, 10).remove).toEqual([]);
  });

  it('never deletes a file the agent did not record, even one named as this container’s archive', () => {
    const present = [name(1), name(2), name(3), name(4)];
    // Only 3 and 4 were recorded (1 and 2: another tool's, an older agent's, a lost ledger's).
    expect(archiveRetention(mine(3, 4), present, owner, 1)).toEqual({ remove: [name(3)], forget: [name(3)] });
    expect(archiveRetention(EMPTY_LEDGER, present, owner, 0)).toEqual({ remove: [], forget: [] });
  });

  it('chooses only among entries of exactly this namespace, pod and container', () => {
    const teamA = { namespace: 'team-a', pod: 'app', container: 'x' };
    const team = { namespace: 'team', pod: 'app', container: 'a-x' };
    // One prefix for both: checkpoint-app_team-a-x-.
    const f = (s: number) => `checkpoint-app_team-a-x-2026-11-24T08:00:0${s}Z.tar`;
    const ledger = ledgerOf([[f(1), teamA], [f(2), team], [f(3), teamA], [f(4), team]]);
    const present = [f(1), f(2), f(3), f(4)];
    expect(archiveRetention(ledger, present, teamA, 1).remove).toEqual([f(1)]);
    expect(archiveRetention(ledger, present, team, 1).remove).toEqual([f(2)]);
    expect(archiveRetention(ledger, present, { ...teamA, pod: 'app-2' }, 0).remove).toEqual([]);
  });

  it('never touches other containers, pods or files that are not archives', () => {
    const others = [name(1, 'app-sidecar'), name(1, 'app', 'web-1'), 'lost+found', '.kcr-archives.json'];
    const ledger = ledgerOf([
      [name(1, 'app-sidecar'), { ...owner, container: 'app-sidecar' }],
      [name(1, 'app', 'web-1'), { ...owner, pod: 'web-1' }],
      [name(5), owner],
      [name(6), owner],
    ]);
    expect(archiveRetention(ledger, [...others, name(5), name(6)], owner, 1).remove).toEqual([name(5)]);
  });

  it('never deletes an archive a running push still reads', () => {
    expect(archiveRetention(mine(1, 2, 3), [name(1), name(2), name(3)], owner, 1, new Set([name(1)])).remove).toEqual([name(2)]);
  });

  it('forgets entries whose files are gone, of every owner, and deletes nothing for them', () => {
    const ledger = ledgerOf([[name(1), owner], [name(2), owner], [name(1, 'app', 'web-1'), { ...owner, pod: 'web-1' }]]);
    expect(archiveRetention(ledger, [name(2)], owner, 1)).toEqual({ remove: [], forget: [name(1), name(1, 'app', 'web-1')] });
  });

  it('property: what is kept is the newest, and kept + deleted covers every recorded archive of the container', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 59 }), { maxLength: 20 }), fc.integer({ min: 0, max: 5 }), (minutes, keep) => {
        const names = minutes.map((m) => name(m));
        const deleted = new Set(archiveRetention(mine(...minutes), names, owner, keep).remove);
        const kept = minutes.filter((m) => !deleted.has(name(m)));
        expect(kept.length).toBe(Math.min(keep, minutes.length));
        const oldestKept = Math.min(...kept);
        for (const m of minutes) if (deleted.has(name(m))) expect(m).toBeLessThan(oldestKept);
      }),
    );
  });

  it('property: for two owners whose prefixes collide, deleting for one never deletes a file recorded for the other (or one not recorded)', () => {
    const word = fc.stringMatching(/^[a-z0-9]{1,4}$/);
    // `<ns>-<container>` cut at two different dashes: two owners, one prefix.
    const colliding = fc
      .tuple(word, fc.array(word, { minLength: 3, maxLength: 6 }))
      .chain(([pod, parts]) =>
        fc.tuple(fc.constant(pod), fc.constant(parts), fc.uniqueArray(fc.integer({ min: 1, max: parts.length - 1 }), { minLength: 2, maxLength: 2 })),
      )
      .map(([pod, parts, [i, j]]) => {
        const cut = (k: number): ArchiveOwner => ({ pod, namespace: parts.slice(0, k).join('-'), container: parts.slice(k).join('-') });
        return [cut(i!), cut(j!)] as const;
      });
    const files = fc.uniqueArray(fc.record({ second: fc.integer({ min: 0, max: 3599 }), who: fc.constantFrom('a', 'b', 'nobody'), present: fc.boolean() }), { selector: (f) => f.second, maxLength: 24 });
    fc.assert(
      fc.property(colliding, files, fc.integer({ min: 0, max: 3 }), ([a, b], rows, keep) => {
        expect(archivePrefix(a.pod, a.namespace, a.container)).toBe(archivePrefix(b.pod, b.namespace, b.container));
        const fileName = (s: number) => `${archivePrefix(a.pod, a.namespace, a.container)}${new Date(Date.UTC(2026, 10, 24, 8, 0, s)).toISOString().replace(/\.000Z$/, 'Z')}.tar`;
        let ledger = EMPTY_LEDGER;
        for (const r of rows) if (r.who !== 'nobody') ledger = withArchive(ledger, fileName(r.second), entry(r.who === 'a' ? a : b));
        const present = rows.filter((r) => r.present).map((r) => fileName(r.second));
        for (const [me, other] of [[a, b], [b, a]] as const) {
          const { remove } = archiveRetention(ledger, present, me, keep);
          for (const n of remove) {
            const e = ledger.get(n)!;
            expect(e).toBeDefined();
            expect({ namespace: e.namespace, pod: e.pod, container: e.container }).toEqual(me);
            expect({ namespace: e.namespace, container: e.container }).not.toEqual({ namespace: other.namespace, container: other.container });
          }
        }
      }),
    );
  });
});
