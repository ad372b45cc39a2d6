// Reads a checkpoint archive as checkpointctl would: its entries, config.dump, spec.dump and the
// sample app's state in checkpoint/pages-1.img (written by the node runtime simulator, see
// test/cluster/cri-sim: one JSON line `{"app":"kcr-sim-counter","state":{…}}`, then filler).
// Tests use it to check what a checkpoint (or a checkpoint image's layer) really holds.
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';

export const PAGE_SIZE = 4096;
const PAGES_MAGIC = 'kcr-sim-counter';

/** The app's memory as the checkpoint saved it. */
export interface SavedAppState {
  counter: number;
  startedAt: string;
  restoredFrom?: string;
}

export interface ArchiveEntryInfo {
  name: string;
  type: string;
  mode: number;
  size: number;
}

export interface ReadArchive {
  entries: ArchiveEntryInfo[];
  state: SavedAppState;
  config: Record<string, unknown>;
  spec: Record<string, unknown>;
  /** containerd's status.dump, when the archive has one. */
  status?: Record<string, unknown>;
}

const JSON_ENTRIES = new Set(['config.dump', 'spec.dump', 'status.dump']);

function isGzip(b: Buffer): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** Reads an archive (plain or gzip tar) and the app state in its checkpoint/pages-1.img. */
export async function readCheckpointArchive(data: Buffer): Promise<ReadArchive> {
  const tarBytes = isGzip(data) ? gunzipSync(data) : data;
  const extract = tar.extract();
  const entries: ArchiveEntryInfo[] = [];
  const dumps = new Map<string, Record<string, unknown>>();
  let pagesHead: Buffer | undefined;
  const collect = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const name = h.name.replace(/^\.\//, '').replace(/\/$/, '');
      entries.push({ name, type: h.type ?? 'file', mode: (h.mode ?? 0) & 0o7777, size: h.size ?? 0 });
      const wantAll = JSON_ENTRIES.has(name);
      const chunks: Buffer[] = [];
      let got = 0;
      for await (const c of entry as AsyncIterable<Buffer>) {
        if (wantAll || (name === 'checkpoint/pages-1.img' && got < PAGE_SIZE)) {
          chunks.push(c);
          got += c.length;
        }
      }
      if (wantAll) dumps.set(name, JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      if (name === 'checkpoint/pages-1.img') pagesHead = Buffer.concat(chunks);
    }
  })();
  extract.end(tarBytes);
  await collect;
  if (entries.length === 0) throw new Error('checkpoint archive is empty or not a tar archive');
  if (!pagesHead) throw new Error('checkpoint archive has no checkpoint/pages-1.img');
  const config = dumps.get('config.dump');
  const spec = dumps.get('spec.dump');
  if (!config || !spec) throw new Error('checkpoint archive lacks config.dump or spec.dump');
  const status = dumps.get('status.dump');
  return { entries, state: decodePagesHeader(pagesHead), config, spec, ...(status ? { status } : {}) };
}

export function decodePagesHeader(head: Buffer): SavedAppState {
  const nl = head.indexOf(0x0a);
  if (nl < 0) throw new Error('checkpoint/pages-1.img holds no app state');
  let parsed: unknown;
  try {
    parsed = JSON.parse(head.subarray(0, nl).toString('utf8'));
  } catch {
    throw new Error('checkpoint/pages-1.img holds no app state');
  }
  const p = parsed as { app?: unknown; state?: { counter?: unknown; startedAt?: unknown; restoredFrom?: unknown } };
  if (p.app !== PAGES_MAGIC) throw new Error('checkpoint/pages-1.img was not written by the sample app');
  const s = p.state ?? {};
  if (typeof s.counter !== 'number' || !Number.isSafeInteger(s.counter) || s.counter < 0) throw new Error(`app state counter must be a non-negative integer, got ${JSON.stringify(s.counter)}`);
  if (typeof s.startedAt !== 'string') throw new Error('app state has no startedAt');
  return { counter: s.counter, startedAt: s.startedAt, ...(typeof s.restoredFrom === 'string' ? { restoredFrom: s.restoredFrom } : {}) };
}
