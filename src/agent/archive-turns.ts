// Two checkpoints whose archives could get one name never run at the same time on this node.
//
// The kubelet names an archive `checkpoint-<pod>_<ns>-<container>-<RFC3339, whole seconds>.tar`
// from its own clock when the call starts. Pod `app` of `team-a` container `x` and pod `app` of
// `team` container `a-x` share the prefix, and in the same second the kubelet writes the same
// file, replacing the one another job may still be pushing. (Names with different prefixes
// cannot meet: the time part holds `T` and `:`, which no pod, namespace or container name does.)
// So jobs of one prefix take turns (a keyed mutex around the kubelet call and everything done
// with its archive), and a turn's kubelet call starts only in a clock second after the one in
// which the previous kubelet call of that prefix ended: its time, and so its name, differ.
// The agent's start counts as such an end for every prefix: the agent before it may have been
// killed while the kubelet still wrote an archive for it.
import { KeyedMutex } from './keyed-mutex.ts';

/** The start of the clock second after `t`. */
export function secondAfter(t: Date): Date {
  return new Date(Math.floor(t.getTime() / 1000) * 1000 + 1000);
}

/**
 * How long a kubelet call must wait, given when the previous call of its prefix ended. At most
 * one second: a clock stepped back is not waited out.
 */
export function kubeletWaitMs(previousCallEnd: Date | undefined, now: Date): number {
  if (previousCallEnd === undefined) return 0;
  return Math.min(1000, Math.max(0, secondAfter(previousCallEnd).getTime() - now.getTime()));
}

export interface Turn {
  /** Runs the kubelet call once its second has come, and notes when it ended (failed or not). */
  kubelet<R>(call: () => Promise<R>): Promise<R>;
}

export interface ArchiveTurnsDeps {
  now: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class ArchiveTurns {
  readonly #mutex = new KeyedMutex();
  /** Per prefix, when its last kubelet call ended; entries past their wait are dropped. */
  readonly #lastCallEnd = new Map<string, Date>();
  readonly #now: () => Date;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #startedAt: Date;

  constructor(deps: ArchiveTurnsDeps) {
    this.#now = deps.now;
    this.#sleep = deps.sleep ?? realSleep;
    this.#startedAt = deps.now();
  }

  /** Whether a job of this prefix is running or waiting (so the next one will wait). */
  busy(prefix: string): boolean {
    return this.#mutex.held(prefix);
  }

  run<T>(prefix: string, work: (turn: Turn) => Promise<T>): Promise<T> {
    return this.#mutex.run(prefix, () =>
      work({
        kubelet: async <R>(call: () => Promise<R>): Promise<R> => {
          for (let ms = this.#waitMs(prefix); ms > 0; ms = this.#waitMs(prefix)) await this.#sleep(ms);
          try {
            return await call();
          } finally {
            // A failed or timed-out call may still have written (or be writing) an archive.
            this.#lastCallEnd.set(prefix, this.#now());
          }
        },
      }),
    );
  }

  #waitMs(prefix: string): number {
    const now = this.#now();
    for (const [p, end] of this.#lastCallEnd) if (kubeletWaitMs(end, now) === 0) this.#lastCallEnd.delete(p);
    const end = this.#lastCallEnd.get(prefix);
    return Math.max(kubeletWaitMs(end, now), kubeletWaitMs(this.#startedAt, now));
  }
}
