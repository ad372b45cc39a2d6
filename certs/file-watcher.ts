// cert-manager mode: tls.crt and tls.key are mounted from a Secret that
// cert-manager renews. kcr only watches them and reloads; it neither writes the
// Secret nor patches caBundle (cert-manager's cainjector does).
//
// The kubelet updates a Secret volume by swapping a `..data` symlink, so we watch
// the directory (not the files), debounce the burst of events, and also poll in
// case fs.watch misses events (network filesystems, some overlay setups). A
// half-updated pair (new cert, old key) fails the key check and is skipped until
// the next event or poll.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../src/log.ts';
import { KeyPairListeners, isMatchingKeyPair, type ServingCertificateSource, type ServingKeyPair } from './key-pair.ts';
import { realTimers, type Timers } from './timers.ts';

export interface CertificateFileWatcherOptions {
  certDir: string;
  debounceMs?: number;
  pollIntervalMs?: number;
  timers?: Timers;
  log?: Logger;
}

export async function readKeyPairFiles(certDir: string): Promise<ServingKeyPair> {
  const [cert, key] = await Promise.all([
    readFile(join(certDir, 'tls.crt'), 'utf8'),
    readFile(join(certDir, 'tls.key'), 'utf8'),
  ]);
  return { cert, key };
}

export class CertificateFileWatcher implements ServingCertificateSource {
  #opts: Required<Omit<CertificateFileWatcherOptions, 'log'>> & Pick<CertificateFileWatcherOptions, 'log'>;
  #listeners = new KeyPairListeners();
  #current: ServingKeyPair;
  #watcher: FSWatcher | undefined;
  #debounce: unknown;
  #poll: unknown;
  #stopped = false;

  private constructor(opts: CertificateFileWatcherOptions, initial: ServingKeyPair) {
    this.#opts = {
      ...opts,
      debounceMs: opts.debounceMs ?? 200,
      pollIntervalMs: opts.pollIntervalMs ?? 10_000,
      timers: opts.timers ?? realTimers,
    };
    this.#current = initial;
  }

  /** Reads the pair once (rejects when missing or mismatched) and starts watching. */
  static async start(opts: CertificateFileWatcherOptions): Promise<CertificateFileWatcher> {
    const initial = await readKeyPairFiles(opts.certDir);
    if (!isMatchingKeyPair(initial)) {
      throw new Error(`tls.crt and tls.key in ${opts.certDir} are not a matching certificate and key`);
    }
    const watcher = new CertificateFileWatcher(opts, initial);
    watcher.#watch();
    watcher.#schedulePoll();
    return watcher;
  }

  get current(): ServingKeyPair {
    return this.#current;
  }

  onChange(listener: (pair: ServingKeyPair) => void): () => void {
    return this.#listeners.onChange(listener);
  }

  /** Reads the files now; emits and returns true when they hold a new, valid pair. */
  async reload(): Promise<boolean> {
    let pair: ServingKeyPair;
    try {
      pair = await readKeyPairFiles(this.#opts.certDir);
    } catch (err) {
      this.#opts.log?.warn({ err, certDir: this.#opts.certDir }, 'could not read certificate files; keeping the old pair');
      return false;
    }
    if (this.#stopped) return false;
    if (pair.cert === this.#current.cert && pair.key === this.#current.key) return false;
    if (!isMatchingKeyPair(pair)) {
      this.#opts.log?.warn({ certDir: this.#opts.certDir }, 'certificate files do not match (update in progress?); keeping the old pair');
      return false;
    }
    this.#current = pair;
    this.#listeners.emit(pair);
    return true;
  }

  stop(): void {
    this.#stopped = true;
    this.#watcher?.close();
    this.#watcher = undefined;
    const { timers } = this.#opts;
    if (this.#debounce !== undefined) timers.clearTimeout(this.#debounce);
    if (this.#poll !== undefined) timers.clearTimeout(this.#poll);
  }

  #watch(): void {
    try {
      this.#watcher = watch(this.#opts.certDir, { persistent: false }, () => this.#onEvent());
      this.#watcher.on('error', (err) => {
        this.#opts.log?.warn({ err }, 'fs.watch failed; relying on polling');
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch (err) {
      this.#opts.log?.warn({ err }, 'fs.watch unavailable; relying on polling');
    }
  }

  #onEvent(): void {
    if (this.#stopped) return;
    const { timers } = this.#opts;
    if (this.#debounce !== undefined) timers.clearTimeout(this.#debounce);
    this.#debounce = timers.setTimeout(() => {
      this.#debounce = undefined;
      void this.reload();
    }, this.#opts.debounceMs);
  }

  #schedulePoll(): void {
    if (this.#stopped) return;
    this.#poll = this.#opts.timers.setTimeout(() => {
      void this.reload().finally(() => this.#schedulePoll());
    }, this.#opts.pollIntervalMs);
  }
}
