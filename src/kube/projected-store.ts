// What a projecting informer keeps: per namespace/name, the projection of the object and the
// resourceVersion it was made from (to skip unchanged objects on a relist). A relist is applied
// as a diff: `apply` says whether each listed object is new, changed or the same, and `vanished`
// gives the stored keys the new list did not contain, so the consumer ends equal to the list.

export interface Stored<P> {
  obj: P;
  resourceVersion: string | undefined;
}

export type Applied = 'add' | 'update' | 'same';

export function storeKey(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}

export class ProjectedStore<P> {
  readonly #items = new Map<string, Stored<P>>();

  get size(): number {
    return this.#items.size;
  }

  get(key: string): Stored<P> | undefined {
    return this.#items.get(key);
  }

  /** Stores the projection; 'same' when the stored one has this (non-empty) resourceVersion (then nothing changes). */
  apply(key: string, obj: P, resourceVersion: string | undefined): Applied {
    const old = this.#items.get(key);
    if (old !== undefined && resourceVersion !== undefined && old.resourceVersion === resourceVersion) return 'same';
    this.#items.set(key, { obj, resourceVersion });
    return old === undefined ? 'add' : 'update';
  }

  /** Removes and returns what was stored under the key. */
  delete(key: string): Stored<P> | undefined {
    const old = this.#items.get(key);
    this.#items.delete(key);
    return old;
  }

  /** Stored keys not in `seen` (objects gone while the informer was not watching). */
  vanished(seen: ReadonlySet<string>): string[] {
    const out: string[] = [];
    for (const key of this.#items.keys()) if (!seen.has(key)) out.push(key);
    return out;
  }

  values(): IterableIterator<Stored<P>> {
    return this.#items.values();
  }
}
