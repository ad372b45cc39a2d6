// staleFeeds: which informers have been disconnected longer than the bound.
import { describe, expect, it } from 'vitest';
import { staleFeeds, type FeedConnection } from '../../../webhooks/index-staleness.ts';

const T0 = new Date('2026-11-24T06:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const BOUND = 30_000;

describe('staleFeeds', () => {
  it.each<[string, FeedConnection[], number, string[]]>([
    ['every watch connected', [{ name: 'pods', connected: true, since: at(0) }, { name: 'checkpoints', connected: true, since: at(-3600) }], 100, []],
    ['never connected yet: not synced, not stale', [{ name: 'pods', connected: false, since: undefined }], 3600, []],
    ['disconnected for less than the bound', [{ name: 'pods', connected: false, since: at(0) }], 29, []],
    ['disconnected exactly the bound: not yet', [{ name: 'pods', connected: false, since: at(0) }], 30, []],
    ['disconnected longer than the bound', [{ name: 'pods', connected: false, since: at(0) }], 31, ['pods']],
    ['only the one that is away', [{ name: 'pods', connected: true, since: at(0) }, { name: 'checkpoints', connected: false, since: at(0) }], 60, ['checkpoints']],
    ['several, in the order given', [{ name: 'checkpoints', connected: false, since: at(10) }, { name: 'nodes', connected: true, since: at(0) }, { name: 'pods', connected: false, since: at(0) }], 45, ['checkpoints', 'pods']],
    ['a clock that went back is no staleness', [{ name: 'pods', connected: false, since: at(100) }], 0, []],
  ])('%s', (_name, feeds, nowS, want) => {
    expect(staleFeeds(at(nowS), feeds, BOUND).map((f) => f.name)).toEqual(want);
  });

  it('says for how long each has been away', () => {
    expect(staleFeeds(at(95), [{ name: 'pods', connected: false, since: at(5) }], BOUND)).toEqual([{ name: 'pods', disconnectedMs: 90_000 }]);
  });
});
