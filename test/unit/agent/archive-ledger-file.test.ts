import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EMPTY_LEDGER, withArchive } from '../../../src/agent/archive-ledger.ts';
import { ArchiveLedgerFile } from '../../../src/agent/archive-ledger-file.ts';

const root = mkdtempSync(join(tmpdir(), 'kcr-ledger-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const folder = () => mkdtempSync(join(root, `f${++n}-`));
const entry = { namespace: 'team-a', pod: 'app', podUid: 'u', container: 'x', requestUid: 'r', recordedAt: '2026-11-24T08:00:01Z' };
const name = 'checkpoint-app_team-a-x-2026-11-24T08:00:01Z.tar';

describe('the archive ledger file', () => {
  it('no file is an empty ledger; a written ledger is read back by a new instance (an agent restart), 0600, no temp file left', async () => {
    const dir = folder();
    expect(await new ArchiveLedgerFile(dir).read()).toEqual({ ok: true, ledger: EMPTY_LEDGER, missing: true });
    const ledger = withArchive(EMPTY_LEDGER, name, entry);
    await new ArchiveLedgerFile(dir).write(ledger);
    expect(await new ArchiveLedgerFile(dir).read()).toEqual({ ok: true, ledger, missing: false });
    expect(readdirSync(dir)).toEqual(['.kcr-archives.json']);
    expect(statSync(join(dir, '.kcr-archives.json')).mode & 0o777).toBe(0o600);
  });

  it('an unreadable ledger says why, and can be set aside', async () => {
    const dir = folder();
    const file = new ArchiveLedgerFile(dir);
    writeFileSync(file.path, '{"version": 1, "archives": {');
    const read = await file.read();
    expect(read).toMatchObject({ ok: false, why: expect.stringMatching(/not JSON/) });
    expect(await file.setAside()).toBe(`${file.path}.corrupt`);
    expect(readFileSync(`${file.path}.corrupt`, 'utf8')).toContain('"archives"');
    expect((await file.read()).ok).toBe(true);
  });

  it('a write that cannot finish (the rename fails) leaves no temp file behind', async () => {
    const dir = folder();
    // A folder in the ledger's place: the temp file is written, the rename over it fails.
    mkdirSync(join(dir, '.kcr-archives.json'));
    await expect(new ArchiveLedgerFile(dir).write(withArchive(EMPTY_LEDGER, name, entry))).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['.kcr-archives.json']);
  });

  it('exclusive: read-change-write of concurrent jobs does not lose an update', async () => {
    const dir = folder();
    const file = new ArchiveLedgerFile(dir);
    const names = Array.from({ length: 8 }, (_, i) => `checkpoint-app_team-a-x-2026-11-24T08:00:0${i}Z.tar`);
    await Promise.all(
      names.map((nm) =>
        file.exclusive(async () => {
          const r = await file.read();
          if (!r.ok) throw new Error(r.why);
          await file.write(withArchive(r.ledger, nm, entry));
        }),
      ),
    );
    const r = await file.read();
    expect(r.ok && [...r.ledger.keys()].sort()).toEqual(names);
  });
});
