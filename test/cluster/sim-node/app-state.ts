// The sample stateful app every simulated container runs: a counter that grows by one each
// second from its start value. Pure and deterministic: the state is a function of the run and `now`.

export interface AppState {
  counter: number;
  /** RFC3339 time this run of the app started (fresh or restored). */
  startedAt: string;
  /** The checkpoint image the run was restored from; absent for a fresh start. */
  restoredFrom?: string;
}

export interface AppRun {
  startValue: number;
  startedAtMs: number;
  restoredFrom?: string;
}

export function freshRun(nowMs: number): AppRun {
  return { startValue: 0, startedAtMs: nowMs };
}

export function restoredRun(saved: AppState, image: string, nowMs: number): AppRun {
  return { startValue: saved.counter, startedAtMs: nowMs, restoredFrom: image };
}

export function stateAt(run: AppRun, nowMs: number): AppState {
  const elapsed = Math.max(0, Math.floor((nowMs - run.startedAtMs) / 1000));
  const s: AppState = { counter: run.startValue + elapsed, startedAt: new Date(run.startedAtMs).toISOString() };
  if (run.restoredFrom !== undefined) s.restoredFrom = run.restoredFrom;
  return s;
}

/** Validates a value read from an archive or an annotation; throws with the reason. */
export function parseAppState(value: unknown): AppState {
  if (typeof value !== 'object' || value === null) throw new Error('app state is not an object');
  const v = value as Record<string, unknown>;
  if (typeof v.counter !== 'number' || !Number.isSafeInteger(v.counter) || v.counter < 0) {
    throw new Error(`app state counter must be a non-negative integer, got ${JSON.stringify(v.counter)}`);
  }
  if (typeof v.startedAt !== 'string' || Number.isNaN(Date.parse(v.startedAt))) {
    throw new Error(`app state startedAt must be a time, got ${JSON.stringify(v.startedAt)}`);
  }
  const s: AppState = { counter: v.counter, startedAt: v.startedAt };
  if (v.restoredFrom !== undefined) {
    if (typeof v.restoredFrom !== 'string') throw new Error('app state restoredFrom must be a string');
    s.restoredFrom = v.restoredFrom;
  }
  return s;
}
