// Cron validation and next-run computation for schedules (5-field cron, IANA time zone).
// Pure: the caller passes `now`.
import { CronExpressionParser } from 'cron-parser';

export type CronCheck = { ok: true } | { ok: false; message: string };

/** True when `tz` is an IANA time zone the runtime knows ("Europe/Berlin", "UTC"). */
export function isValidTimeZone(tz: string): boolean {
  if (tz.trim() === '' || tz !== tz.trim()) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

// Validation parses and steps the expression (~0.5 ms); thousands of schedules share a few
// patterns, so results are memoised (the function is pure).
const checked = new Map<string, CronCheck>();

/** Checks a user's cron: exactly five fields (minute hour day-of-month month day-of-week) and a valid zone. */
export function validateCron(cron: string, tz?: string): CronCheck {
  const key = `${cron}\u0000${tz ?? ''}`;
  let result = checked.get(key);
  if (result === undefined) {
    result = checkCron(cron, tz);
    if (checked.size >= 10_000) checked.clear();
    checked.set(key, result);
  }
  return result;
}

function checkCron(cron: string, tz: string | undefined): CronCheck {
  const fields = cron.trim().split(/\s+/).filter((f) => f !== '');
  if (fields.length !== 5) {
    return { ok: false, message: `schedule ${JSON.stringify(cron)} must have 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}` };
  }
  if (tz !== undefined && !isValidTimeZone(tz)) {
    return { ok: false, message: `timeZone ${JSON.stringify(tz)} is not a known IANA time zone` };
  }
  try {
    CronExpressionParser.parse(fields.join(' '), { currentDate: new Date(0), ...(tz ? { tz } : {}) }).next();
  } catch (err) {
    return { ok: false, message: `schedule ${JSON.stringify(cron)} is not a valid cron expression: ${(err as Error).message}` };
  }
  return { ok: true };
}

/** Normalised form of a valid cron (single spaces), so "0  3 * * *" and "0 3 * * *" are one schedule. */
export function normaliseCron(cron: string): string {
  return cron.trim().split(/\s+/).join(' ');
}

/** The first run strictly after `now`, or undefined when the expression never fires again or is invalid. */
export function nextRunTime(cron: string, tz: string | undefined, now: Date): Date | undefined {
  if (!validateCron(cron, tz).ok) return undefined;
  try {
    const it = CronExpressionParser.parse(normaliseCron(cron), { currentDate: now, ...(tz ? { tz } : {}) });
    return it.next().toDate();
  } catch {
    return undefined;
  }
}
