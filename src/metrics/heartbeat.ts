// Liveness that means something: each main loop of a component beats a heartbeat on every round;
// /livez fails once an expected heartbeat is older than its bound (the loop hung or ended), so
// the kubelet restarts the process. A loop that is not expected to run (the schedule worker of a
// standby controller) is idle and never makes the process not live.

export interface HeartbeatState {
  name: string;
  /** Epoch ms of the last beat; undefined: not beaten since it was last expected to run. */
  lastBeatMs: number | undefined;
  /** Epoch ms since when this loop has been expected to run (its bound counts from there before a first beat). */
  expectedSinceMs: number | undefined;
  /** Longest quiet time allowed between beats. */
  boundMs: number;
}

export interface Liveness {
  live: boolean;
  /** Loops past their bound, with how long they have been quiet. */
  stale: Array<{ name: string; quietMs: number }>;
}

/** Pure: which expected loops are quiet for longer than their bound at `nowMs`. */
export function liveness(beats: readonly HeartbeatState[], nowMs: number): Liveness {
  const stale: Liveness['stale'] = [];
  for (const b of beats) {
    if (b.expectedSinceMs === undefined) continue;
    const since = Math.max(b.lastBeatMs ?? b.expectedSinceMs, b.expectedSinceMs);
    const quietMs = nowMs - since;
    if (quietMs > b.boundMs) stale.push({ name: b.name, quietMs });
  }
  return { live: stale.length === 0, stale };
}

/** One loop's heartbeat (the mutable shell around HeartbeatState). */
export class Heartbeat {
  readonly #state: HeartbeatState;
  readonly #now: () => number;

  constructor(name: string, boundMs: number, options: { now?: () => number; expected?: boolean } = {}) {
    this.#now = options.now ?? Date.now;
    this.#state = { name, boundMs, lastBeatMs: undefined, expectedSinceMs: options.expected === false ? undefined : this.#now() };
  }

  beat(): void {
    this.#state.lastBeatMs = this.#now();
  }

  /** The loop is expected to run from now on (e.g. this replica became leader). */
  expect(): void {
    if (this.#state.expectedSinceMs !== undefined) return;
    this.#state.expectedSinceMs = this.#now();
    this.#state.lastBeatMs = undefined;
  }

  /** The loop is not expected to run (stopped on purpose). */
  idle(): void {
    this.#state.expectedSinceMs = undefined;
  }

  get state(): HeartbeatState {
    return { ...this.#state };
  }
}

/** Liveness of several heartbeats now. */
export function livenessOf(beats: readonly Heartbeat[], now: () => number = Date.now): Liveness {
  return liveness(beats.map((b) => b.state), now());
}
