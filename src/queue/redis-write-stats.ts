// Counts write commands Redis executed, to show that a no-change reconcile writes nothing. Uses
// INFO commandstats (which also counts commands run inside Lua scripts) filtered by the `write`
// flag from COMMAND, and Redis's dirty counter (changes since the last save) as a cross-check.
import type { Redis } from 'ioredis';

export interface WriteStats {
  /** Calls of write-flagged commands, by command. */
  byCommand: Map<string, number>;
  total: number;
  /** rdb_changes_since_last_save: keys changed (only meaningful without saves in between). */
  dirty: number;
}

let writeCommands: Promise<Set<string>> | undefined;

async function loadWriteCommands(client: Redis): Promise<Set<string>> {
  const rows = (await client.call('COMMAND')) as unknown[];
  const names = new Set<string>();
  for (const row of rows) {
    if (!Array.isArray(row)) continue;
    const [name, , flags] = row as [unknown, unknown, unknown];
    if (typeof name === 'string' && Array.isArray(flags) && flags.includes('write')) names.add(name.toLowerCase());
  }
  return names;
}

export async function readWriteStats(client: Redis): Promise<WriteStats> {
  writeCommands ??= loadWriteCommands(client);
  const writes = await writeCommands;
  const [stats, persistence] = await Promise.all([client.info('commandstats'), client.info('persistence')]);
  const byCommand = new Map<string, number>();
  let total = 0;
  for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    const name = m[1]!.toLowerCase();
    if (!writes.has(name)) continue;
    const calls = Number(m[2]);
    byCommand.set(name, calls);
    total += calls;
  }
  const dirty = Number(/^rdb_changes_since_last_save:(\d+)/m.exec(persistence)?.[1] ?? 0);
  return { byCommand, total, dirty };
}

/** Write commands and dirty changes between two readings. */
export function writesBetween(before: WriteStats, after: WriteStats): { total: number; dirty: number; byCommand: Record<string, number> } {
  const byCommand: Record<string, number> = {};
  for (const [name, calls] of after.byCommand) {
    const d = calls - (before.byCommand.get(name) ?? 0);
    if (d > 0) byCommand[name] = d;
  }
  return { total: after.total - before.total, dirty: after.dirty - before.dirty, byCommand };
}
