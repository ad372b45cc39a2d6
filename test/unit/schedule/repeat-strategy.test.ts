import { defaultRepeatStrategy } from 'bullmq';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cachedRepeatStrategy } from '../../../src/queue/repeat-strategy.ts';

describe('cachedRepeatStrategy', () => {
  it('property: always equals BullMQ\'s own computation (the memo is exact)', () => {
    const strategy = cachedRepeatStrategy(50);
    const base = Date.parse('2026-03-28T20:00:00Z'); // spans the Berlin DST switch
    fc.assert(
      fc.property(
        fc.constantFrom('* * * * *', '*/5 * * * *', '0 3 * * *', '30 2 * * *', '*/10 * * * * *', '0 0 * * 1'),
        fc.constantFrom(undefined, 'Europe/Berlin', 'America/New_York'),
        fc.array(fc.integer({ min: 0, max: 3 * 24 * 3600 * 1000 }), { minLength: 1, maxLength: 6 }),
        (pattern, tz, offsets) => {
          for (const off of offsets) {
            const opts = { pattern, ...(tz ? { tz } : {}) };
            // Probe exact boundaries too: a slot itself must yield the following slot.
            for (const t of [base + off, Math.floor((base + off) / 60_000) * 60_000]) {
              expect(strategy(t, opts)).toBe(defaultRepeatStrategy(t, opts));
            }
          }
        },
      ),
      { numRuns: 100 },
    );
  }, 30_000);

  it('delegates `every` and start dates to BullMQ unchanged', () => {
    const strategy = cachedRepeatStrategy();
    const t = Date.parse('2026-03-10T10:17:30.123Z');
    expect(strategy(t, { every: 1000 })).toBe(defaultRepeatStrategy(t, { every: 1000 }));
    const withStart = { pattern: '* * * * *', startDate: Date.parse('2026-04-01T00:00:00Z') };
    expect(strategy(t, withStart)).toBe(Date.parse('2026-04-01T00:01:00Z'));
  });
});
