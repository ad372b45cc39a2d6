// Which schedulers to write and remove so Redis matches the desired set. Pure: a scheduler
// whose stored fingerprint equals the desired one is left alone, so a reconcile that changes
// nothing writes nothing.
import type { DesiredScheduler } from './desired.ts';

/** A scheduler as read back from Redis: its id and the fingerprint stored in its template data. */
export interface ExistingScheduler {
  id: string;
  /** Undefined for a scheduler kcr did not write (or wrote before fingerprints): rewritten. */
  fingerprint?: string;
}

export interface ReconcilePlan {
  upsert: DesiredScheduler[];
  /** Ids of schedulers to remove. */
  remove: string[];
  unchanged: number;
}

/** Ids kcr owns; anything else in the queue (another tool's scheduler) is never removed. */
export function isKcrSchedulerId(id: string): boolean {
  return id.startsWith('cps:') || id.startsWith('wl:');
}

export function planReconcile(
  desired: readonly DesiredScheduler[],
  existing: readonly ExistingScheduler[],
  options: { force?: boolean } = {},
): ReconcilePlan {
  const have = new Map<string, ExistingScheduler>();
  for (const e of existing) have.set(e.id, e);
  const want = new Set<string>();
  const upsert: DesiredScheduler[] = [];
  let unchanged = 0;
  for (const d of desired) {
    if (want.has(d.id)) continue;
    want.add(d.id);
    const e = have.get(d.id);
    if (!options.force && e !== undefined && e.fingerprint === d.fingerprint) unchanged++;
    else upsert.push(d);
  }
  const remove = [...have.keys()].filter((id) => !want.has(id) && isKcrSchedulerId(id)).sort();
  return { upsert, remove, unchanged };
}
