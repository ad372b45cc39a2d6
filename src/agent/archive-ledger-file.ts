// The archive ledger on the node: `.kcr-archives.json` in the checkpoint folder (the node's
// /var/lib/kubelet/checkpoints), so it outlives the agent's pod. Written whole to a temporary
// file and renamed over the old one: a crash leaves the old ledger or the new one, never half.
// Thin I/O; the format and the changes are archive-ledger.ts.
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EMPTY_LEDGER, LEDGER_FILE, parseLedger, serialiseLedger, type ArchiveLedger } from './archive-ledger.ts';
import { KeyedMutex } from './keyed-mutex.ts';

export type LedgerRead =
  | { ok: true; ledger: ArchiveLedger; missing: boolean }
  /** Unreadable as a ledger: the caller deletes nothing. */
  | { ok: false; why: string };

export class ArchiveLedgerFile {
  readonly path: string;
  readonly #mutex = new KeyedMutex();

  constructor(dir: string) {
    this.path = join(dir, LEDGER_FILE);
  }

  /** Runs `work` with no other read-change-write of this ledger in between (jobs run side by side). */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.#mutex.run('', work);
  }

  /** No file is an empty ledger (nothing recorded yet); other I/O errors are thrown. */
  async read(): Promise<LedgerRead> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, ledger: EMPTY_LEDGER, missing: true };
      throw err;
    }
    const parsed = parseLedger(text);
    return 'error' in parsed ? { ok: false, why: parsed.error } : { ok: true, ledger: parsed.ledger, missing: false };
  }

  async write(ledger: ArchiveLedger): Promise<void> {
    const tmp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const f = await open(tmp, 'wx', 0o600);
      try {
        await f.writeFile(serialiseLedger(ledger), 'utf8');
        // On the disk before the rename makes it the ledger.
        await f.sync();
      } finally {
        await f.close();
      }
      await rename(tmp, this.path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Moves an unreadable ledger aside (kept for a look, the previous such copy replaced); returns where. */
  async setAside(): Promise<string> {
    const to = `${this.path}.corrupt`;
    await rename(this.path, to);
    return to;
  }
}
