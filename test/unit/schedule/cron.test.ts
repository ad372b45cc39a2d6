import { describe, expect, it } from 'vitest';
import { isValidTimeZone, nextRunTime, normaliseCron, validateCron } from '../../../src/schedule/cron.ts';

describe('validateCron', () => {
  it.each([
    ['*/5 * * * *', undefined],
    ['0 3 * * 1-5', 'Europe/Berlin'],
    ['  0   3 * * *  ', 'UTC'],
    ['0 0 1 jan *', undefined],
  ])('accepts %j (tz %s)', (cron, tz) => {
    expect(validateCron(cron, tz)).toEqual({ ok: true });
  });

  it.each([
    ['* * * * * *', /5 fields/],
    ['* * *', /5 fields/],
    ['', /5 fields/],
    ['61 * * * *', /not a valid cron/],
    ['a b c d e', /not a valid cron/],
    ['*/0 * * * *', /not a valid cron/],
  ])('rejects %j', (cron, message) => {
    const r = validateCron(cron);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(message);
  });

  it('rejects an unknown time zone with a message naming it', () => {
    const r = validateCron('0 3 * * *', 'Mars/Olympus');
    expect(r).toEqual({ ok: false, message: expect.stringContaining('Mars/Olympus') });
  });
});

describe('isValidTimeZone', () => {
  it('knows IANA zones and rejects junk', () => {
    expect(isValidTimeZone('America/New_York')).toBe(true);
    expect(isValidTimeZone('UTC')).toBe(true);
    expect(isValidTimeZone('Nope/Zone')).toBe(false);
    expect(isValidTimeZone('')).toBe(false);
    expect(isValidTimeZone(' UTC')).toBe(false);
  });
});

describe('nextRunTime', () => {
  const now = new Date('2026-03-10T10:17:30Z');
  it('is the next slot strictly after now', () => {
    expect(nextRunTime('*/5 * * * *', undefined, now)?.toISOString()).toBe('2026-03-10T10:20:00.000Z');
    expect(nextRunTime('* * * * *', undefined, new Date('2026-03-10T10:17:00Z'))?.toISOString()).toBe(
      '2026-03-10T10:18:00.000Z',
    );
  });
  it('honours the time zone, across a DST change', () => {
    // 03:00 in Berlin is 02:00 UTC in winter and 01:00 UTC in summer (DST starts 2026-03-29).
    expect(nextRunTime('0 3 * * *', 'Europe/Berlin', now)?.toISOString()).toBe('2026-03-11T02:00:00.000Z');
    expect(nextRunTime('0 3 * * *', 'Europe/Berlin', new Date('2026-03-30T00:00:00Z'))?.toISOString()).toBe(
      '2026-03-30T01:00:00.000Z',
    );
  });
  it('is undefined for an invalid cron or zone', () => {
    expect(nextRunTime('nope', undefined, now)).toBeUndefined();
    expect(nextRunTime('* * * * *', 'Nope/Zone', now)).toBeUndefined();
  });
  it('normalises whitespace', () => {
    expect(normaliseCron(' 0\t3  * * * ')).toBe('0 3 * * *');
  });
});
