// Claims on handed-out checkpoints (DESIGN rule 3): who a claim keeps a checkpoint from, and for how long.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { claimBlocks, claimValue, parseClaim, type Claimant } from '../../../src/rules/checkpoint-claim.ts';

const NOW = new Date('2026-11-24T08:00:00Z');
const later = (s: number) => new Date(NOW.getTime() + s * 1000);
const never = () => false;

describe('parseClaim', () => {
  it('reads what claimValue writes', () => {
    expect(parseClaim(claimValue('req-1', 'db-0', later(120)))).toEqual({ holder: 'req-1', pod: 'db-0', untilMs: later(120).getTime() });
    expect(parseClaim(claimValue('req-1', undefined, later(120)))).toEqual({ holder: 'req-1', untilMs: later(120).getTime() });
  });

  it.each(['', 'not json', '{}', '{"holder":""}', '{"holder":"x","until":"soon"}', '{"holder":7,"until":"2026-11-24T08:00:00Z"}', 'null', '[]'])('binds nobody when unreadable: %s', (v) => {
    expect(parseClaim(v)).toBeUndefined();
  });

  it('never throws on any string', () => {
    fc.assert(fc.property(fc.string(), (v) => {
      parseClaim(v);
    }));
  });
});

describe('claimBlocks', () => {
  const claim = parseClaim(claimValue('req-1', undefined, later(120)))!;
  const other: Claimant = { holder: 'req-2', pod: undefined };
  it('keeps the checkpoint from another holder while unexpired and its pod is not seen yet', () => {
    expect(claimBlocks(claim, other, NOW, never)).toBe(true);
    expect(claimBlocks(claim, other, later(119), never)).toBe(true);
  });

  it('does not bind its own holder, the same named pod, once its pod was seen, or after it expires', () => {
    expect(claimBlocks(claim, { holder: 'req-1', pod: undefined }, NOW, never)).toBe(false);
    const named = parseClaim(claimValue('req-1', 'db-0', later(120)));
    expect(claimBlocks(named, { holder: 'req-9', pod: 'db-0' }, NOW, never)).toBe(false);
    expect(claimBlocks(named, { holder: 'req-9', pod: 'db-1' }, NOW, never)).toBe(true);
    expect(claimBlocks(claim, other, NOW, (h) => h === 'req-1')).toBe(false);
    expect(claimBlocks(claim, other, later(120), never)).toBe(false);
    expect(claimBlocks(undefined, other, NOW, never)).toBe(false);
  });
});
