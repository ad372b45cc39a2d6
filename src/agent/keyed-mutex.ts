// One holder per key at a time, in arrival order; different keys run side by side. In-process
// only: the agent is the one process that works its node's queue.
export class KeyedMutex {
  /** Per key: settles when the last holder or waiter so far is done. */
  readonly #tails = new Map<string, Promise<void>>();

  /** Whether someone holds or waits for `key`. */
  held(key: string): boolean {
    return this.#tails.has(key);
  }

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    // `before` only ever resolves (it is a chain of releases), so a failed holder frees the key too.
    const tail = before.then(() => mine);
    this.#tails.set(key, tail);
    await before;
    try {
      return await work();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
