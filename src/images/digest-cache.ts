// Remembers the digests of archives already streamed, keyed by the file's identity (device,
// inode, size, mtime) and compression, so pushing the same archive again (a retry after the
// manifest failed, a re-run) can HEAD the blob and skip it without reading the file twice.
// In memory, bounded; a new file or a changed one never matches.
import type { Stats } from 'node:fs';

export interface LayerDigests {
  /** Digest of the blob as stored (compressed if gzip). */
  digest: string;
  size: number;
  /** Digest of the uncompressed tar. */
  diffId: string;
}

export function fileIdentity(st: Stats, compression: string): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${compression}`;
}

export class DigestCache {
  readonly #max: number;
  readonly #entries = new Map<string, LayerDigests>();

  constructor(maxEntries = 1000) {
    this.#max = maxEntries;
  }

  get(key: string): LayerDigests | undefined {
    return this.#entries.get(key);
  }

  set(key: string, value: LayerDigests): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }
}
