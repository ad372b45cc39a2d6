// The node's checkpoint folder as the agent sees it (KCR_CHECKPOINT_DIR, a hostPath of the
// node's /var/lib/kubelet/checkpoints). Thin I/O; what to delete is archive-retention.ts.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readArchiveDumps } from './archive-dumps.ts';
import { archiveFacts, type ArchiveFacts } from './archive-facts.ts';
import { archiveFileName } from './archive-path.ts';

export class ArchiveFolder {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Path of an archive file name inside the folder (the name must be a plain file name). */
  path(name: string): string {
    return join(this.dir, archiveFileName(name));
  }

  async exists(name: string): Promise<boolean> {
    try {
      return (await stat(this.path(name))).isFile();
    } catch {
      return false;
    }
  }

  async list(): Promise<string[]> {
    return readdir(this.dir);
  }

  /** What the archive says about itself (runtime, pod, container, base image); throws ArchiveFactsError. */
  async facts(name: string): Promise<ArchiveFacts> {
    return archiveFacts(await readArchiveDumps(this.path(name)));
  }

  async remove(name: string): Promise<void> {
    await rm(this.path(name), { force: true });
  }
}
