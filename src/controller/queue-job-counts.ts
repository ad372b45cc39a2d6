// kcr_queue_jobs at a bounded cost: a scrape reads the node queues' counts from Redis at most
// once per interval (scrapes in between, from any number of Prometheus servers, get the last
// read), one read at a time, and a read slower than the timeout leaves the last counts standing.
import type { QueueJobsSample } from './controller-metrics.ts';

export interface QueueJobCountsOptions {
  /** One read of every node queue's counts (the leader's queues; none while standby). */
  read: () => Promise<QueueJobsSample[]>;
  intervalMs: number;
  timeoutMs?: number;
  now?: () => number;
}

export class QueueJobCounts {
  readonly #o: Required<QueueJobCountsOptions>;
  #last: QueueJobsSample[] = [];
  #readAt = Number.NEGATIVE_INFINITY;
  #reading: Promise<QueueJobsSample[]> | undefined;

  constructor(options: QueueJobCountsOptions) {
    this.#o = { timeoutMs: 2000, now: Date.now, ...options };
  }

  samples(): Promise<QueueJobsSample[]> {
    // A scrape during a read waits for that read rather than getting the counts before it.
    if (this.#reading) return this.#reading;
    if (this.#o.now() - this.#readAt < this.#o.intervalMs) return Promise.resolve(this.#last);
    this.#reading = this.#refresh().finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  async #refresh(): Promise<QueueJobsSample[]> {
    this.#readAt = this.#o.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.#o.timeoutMs);
    });
    try {
      const read = await Promise.race([this.#o.read(), timeout]);
      if (read !== undefined) this.#last = read;
    } catch {
      // Redis away: kcr_redis_up says so; the last counts stand until a read succeeds.
    } finally {
      clearTimeout(timer);
    }
    return this.#last;
  }
}
