import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { archivesToDelete } from '../../../src/agent/archive-retention.ts';

const owner = { pod: 'web-0', namespace: 'apps', container: 'app' };
const name = (min: number, container = 'app', pod = 'web-0') => `checkpoint-${pod}_apps-${container}-2026-11-24T08:${String(min).padStart(2, '0')}:00Z.tar`;

describe('archive retention on the node', () => {
  it('keeps the newest N archives of the container and deletes the older ones', () => {
    const names = [name(1), name(3), name(2), name(4)];
    expect(archivesToDelete(names, owner, 1).sort()).toEqual([name(1), name(2), name(3)].sort());
    expect(archivesToDelete(names, owner, 2).sort()).toEqual([name(1), name(2)].sort());
    expect(archivesToDelete(names, owner, 0).sort()).toEqual([...names].sort());
    expect(archivesToDelete(names, owner, 10)).toEqual([]);
  });

  it('never touches other containers, pods or files that are not archives', () => {
    const others = [name(1, 'app-sidecar'), name(1, 'app', 'web-1'), 'lost+found', 'checkpoint-web-0_apps-app-x.tar'];
    expect(archivesToDelete([...others, name(5), name(6)], owner, 1)).toEqual([name(5)]);
  });

  it('never deletes an archive a running push still reads', () => {
    expect(archivesToDelete([name(1), name(2), name(3)], owner, 1, new Set([name(1)]))).toEqual([name(2)]);
  });

  it('property: what is kept is the newest, and kept + deleted covers every archive of the container', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 59 }), { maxLength: 20 }), fc.integer({ min: 0, max: 5 }), (minutes, keep) => {
        const names = minutes.map((m) => name(m));
        const deleted = new Set(archivesToDelete(names, owner, keep));
        const kept = minutes.filter((m) => !deleted.has(name(m)));
        expect(kept.length).toBe(Math.min(keep, minutes.length));
        const oldestKept = Math.min(...kept);
        for (const m of minutes) if (deleted.has(name(m))) expect(m).toBeLessThan(oldestKept);
      }),
    );
  });
});
