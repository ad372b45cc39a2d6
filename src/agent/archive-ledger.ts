// The agent's record of the archives it got from the kubelet on its node: file name -> owner.
// Archive names alone cannot say whose an archive is: `checkpoint-<pod>_<ns>-<container>-<time>`
// is the same for pod `app` of `team-a` container `x` and pod `app` of `team` container `a-x`.
// So the agent deletes only what this ledger says it recorded for the very owner, never by
// prefix. Kept as a small JSON file in the checkpoint folder (archive-ledger-file.ts); this
// file is its format and the changes to it. Pure.
import { archiveFileName, archivePrefix, archiveTime } from './archive-path.ts';

/** The file in the checkpoint folder; a dot file, so it is no archive name the kubelet writes. */
export const LEDGER_FILE = '.kcr-archives.json';

export interface LedgerEntry {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  /** The CheckpointRequest the kubelet wrote the archive for. */
  requestUid: string;
  /** When the agent recorded it (RFC 3339). */
  recordedAt: string;
}

/** File name -> owner. */
export type ArchiveLedger = ReadonlyMap<string, LedgerEntry>;

export const EMPTY_LEDGER: ArchiveLedger = new Map();

const FIELDS = ['namespace', 'pod', 'podUid', 'container', 'requestUid', 'recordedAt'] as const;
const NON_EMPTY = new Set<string>(['namespace', 'pod', 'container', 'recordedAt']);

/** Whether `name` is named as an archive of the entry's own container (what the kubelet writes). */
function namesOwner(name: string, e: Pick<LedgerEntry, 'namespace' | 'pod' | 'container'>): boolean {
  let plain: string;
  try {
    plain = archiveFileName(name);
  } catch {
    return false;
  }
  return plain === name && archiveTime(name, archivePrefix(e.pod, e.namespace, e.container)) !== undefined;
}

/**
 * The ledger in `text`, or why it is not one. Any doubt rejects the whole file: a ledger that
 * is partly wrong may be wrong anywhere, and the caller then deletes nothing.
 */
export function parseLedger(text: string): { ledger: ArchiveLedger } | { error: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { error: `not JSON (${err instanceof Error ? err.message : String(err)})` };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { error: 'not a JSON object' };
  const { version, archives } = doc as Record<string, unknown>;
  if (version !== 1) return { error: `version ${JSON.stringify(version)}, not 1` };
  if (typeof archives !== 'object' || archives === null || Array.isArray(archives)) return { error: '"archives" is not an object' };
  const ledger = new Map<string, LedgerEntry>();
  for (const [name, raw] of Object.entries(archives)) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { error: `entry ${JSON.stringify(name)} is not an object` };
    const r = raw as Record<string, unknown>;
    for (const f of FIELDS) {
      const v = r[f];
      if (typeof v !== 'string' || (NON_EMPTY.has(f) && v === '')) return { error: `entry ${JSON.stringify(name)}: ${f} is not a${NON_EMPTY.has(f) ? ' non-empty' : ''} string` };
    }
    const entry = Object.fromEntries(FIELDS.map((f) => [f, r[f] as string])) as unknown as LedgerEntry;
    if (Number.isNaN(Date.parse(entry.recordedAt))) return { error: `entry ${JSON.stringify(name)}: recordedAt is not a time` };
    // An entry whose name is not its owner's archive name is not one the agent wrote.
    if (!namesOwner(name, entry)) return { error: `entry ${JSON.stringify(name)} is not an archive name of ${entry.namespace}/${entry.pod} container ${entry.container}` };
    ledger.set(name, entry);
  }
  return { ledger };
}

/** The file's text: names sorted, so the same ledger is always the same bytes. */
export function serialiseLedger(ledger: ArchiveLedger): string {
  const archives: Record<string, LedgerEntry> = {};
  for (const name of [...ledger.keys()].sort()) {
    const e = ledger.get(name)!;
    archives[name] = Object.fromEntries(FIELDS.map((f) => [f, e[f]])) as unknown as LedgerEntry;
  }
  return `${JSON.stringify({ version: 1, archives }, null, 2)}\n`;
}

export class LedgerEntryError extends Error {
  override name = 'LedgerEntryError';
}

/**
 * The ledger with `name` recorded for `entry`'s owner. A name already recorded for someone else
 * is replaced: the kubelet has written that file again, for this owner (jobs whose names can
 * collide run one after the other, archive-turns.ts, so the earlier owner is done with it).
 */
export function withArchive(ledger: ArchiveLedger, name: string, entry: LedgerEntry): ArchiveLedger {
  if (!namesOwner(name, entry)) throw new LedgerEntryError(`${JSON.stringify(name)} is not an archive name of ${entry.namespace}/${entry.pod} container ${entry.container}`);
  return new Map(ledger).set(name, { ...entry });
}

/** The ledger without these names. */
export function withoutArchives(ledger: ArchiveLedger, names: Iterable<string>): ArchiveLedger {
  const next = new Map(ledger);
  for (const n of names) next.delete(n);
  return next;
}
