// BullMQ computes a scheduler's next slot with cron-parser on every upsert and every fire
// (~0.5 ms of CPU each). With thousands of schedules sharing a few patterns that CPU dominates
// both reconcile time and fire lateness, so kcr memoises it. The memo is exact: for a cron whose
// finest field is minutes (5 fields) or seconds (6 fields), the next slot strictly after t is the
// same for every t inside one minute (second), so the key is (pattern, tz, t's minute/second).
import { defaultRepeatStrategy, type RepeatOptions } from 'bullmq';

type Strategy = (millis: number, opts: RepeatOptions) => number | undefined;

export function cachedRepeatStrategy(maxEntries = 10_000): Strategy {
  const memo = new Map<string, number | undefined>();
  return (millis, opts) => {
    const pattern = opts.pattern;
    if (!pattern || opts.every || opts.immediately || opts.startDate || opts.endDate) {
      return defaultRepeatStrategy(millis, opts) ?? undefined;
    }
    const fields = pattern.trim().split(/\s+/).length;
    if (fields !== 5 && fields !== 6) return defaultRepeatStrategy(millis, opts) ?? undefined;
    const resolution = fields === 5 ? 60_000 : 1000;
    const key = `${pattern}\u0000${opts.tz ?? ''}\u0000${Math.floor(millis / resolution)}`;
    if (memo.has(key)) return memo.get(key);
    const next = defaultRepeatStrategy(millis, opts) ?? undefined;
    // Old buckets are never asked for again: dropping everything when full is enough.
    if (memo.size >= maxEntries) memo.clear();
    memo.set(key, next);
    return next;
  };
}
