// Work that runs beside the reconcile passes (retention, Checkpoint finalizers, the registry
// sweep): a slow or unreachable registry must not hold up restores. One run at a time, at most
// once per interval; a failure is logged once per message, and the next start tries again.
import type { Logger } from '../log.ts';

export class BesidePass {
  readonly #what: string;
  readonly #intervalMs: number;
  readonly #run: () => Promise<unknown>;
  readonly #logger: Logger;
  #running: Promise<void> | undefined;
  #lastStart = -Infinity;
  #lastError: string | undefined;

  constructor(what: string, intervalMs: number, run: () => Promise<unknown>, logger: Logger) {
    this.#what = what;
    this.#intervalMs = intervalMs;
    this.#run = run;
    this.#logger = logger;
  }

  /** Starts a run unless one is running or the last started less than the interval ago. */
  poke(now = Date.now()): void {
    if (this.#running !== undefined || now - this.#lastStart < this.#intervalMs) return;
    this.#lastStart = now;
    this.#running = this.#run().then(
      () => {
        this.#lastError = undefined;
      },
      (err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        if (message !== this.#lastError) this.#logger.error({ err }, `${this.#what} failed: ${message}`);
        this.#lastError = message;
      },
    ).finally(() => {
      this.#running = undefined;
    });
  }

  /** The next poke starts at once (a new leadership term). */
  reset(): void {
    this.#lastStart = -Infinity;
  }

  /** Resolves when no run is in flight. */
  async idle(): Promise<void> {
    await this.#running;
  }
}
