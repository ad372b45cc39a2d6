// The simulated node's checkpoint archives: CRI-O's layout, file modes, the kubelet's file
// name, and the app state surviving the round trip (plain and gzip, as a registry layer).
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshRun, parseAppState, restoredRun, stateAt } from '../cluster/sim-node/app-state.ts';
import { checkpointArchiveName, parseCheckpointArchiveName, rfc3339Seconds } from '../cluster/sim-node/archive-name.ts';
import { PAGE_SIZE, readCheckpointArchive, writeCheckpointArchive, type ArchiveInput } from '../cluster/sim-node/archive.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kcr-sim-archive-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function input(over: Partial<ArchiveInput> = {}): ArchiveInput {
  return {
    containerId: 'a'.repeat(64),
    containerName: 'counter',
    podName: 'web-0',
    namespace: 'shop',
    podUid: '3f0c1d2e-0000-4000-8000-000000000001',
    image: 'docker.io/library/counter:1.0',
    imageRef: 'docker.io/library/counter@sha256:' + 'b'.repeat(64),
    rootfsImageName: 'docker.io/library/counter:1.0',
    podAnnotations: { 'kcr.io/restore': 'true' },
    podLabels: { app: 'web' },
    args: ['/counter'],
    env: ['MODE=demo'],
    createdAt: new Date('2026-11-24T07:00:00Z'),
    checkpointedAt: new Date('2026-11-24T07:05:09.750Z'),
    state: { counter: 309, startedAt: '2026-11-24T07:00:00.000Z' },
    memoryBytes: 300 * 1024,
    ...over,
  };
}

async function tarEntries(data: Buffer): Promise<{ name: string; type: string; mode: number; size: number }[]> {
  const out: { name: string; type: string; mode: number; size: number }[] = [];
  const extract = tar.extract();
  const done = (async () => {
    for await (const e of extract) {
      out.push({ name: e.header.name, type: e.header.type ?? 'file', mode: (e.header.mode ?? 0) & 0o7777, size: e.header.size ?? 0 });
      e.resume();
    }
  })();
  extract.end(data);
  await done;
  return out;
}

describe('checkpoint archive name', () => {
  it('is the kubelet format: pod full name, container, RFC3339 at one second, colons kept', () => {
    const name = checkpointArchiveName('web-0', 'shop', 'counter', new Date('2026-11-24T07:05:09.750Z'));
    expect(name).toBe('checkpoint-web-0_shop-counter-2026-11-24T07:05:09Z.tar');
    expect(parseCheckpointArchiveName(name)).toEqual({ prefix: 'checkpoint-web-0_shop-counter', time: new Date('2026-11-24T07:05:09Z') });
  });

  it('two checkpoints in the same second get the same name; the next second a new one', () => {
    const a = checkpointArchiveName('p', 'n', 'c', new Date('2026-01-01T00:00:00.001Z'));
    const b = checkpointArchiveName('p', 'n', 'c', new Date('2026-01-01T00:00:00.999Z'));
    const c = checkpointArchiveName('p', 'n', 'c', new Date('2026-01-01T00:00:01.000Z'));
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it('round-trips any time at second resolution (property)', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true }), (d) => {
        const parsed = parseCheckpointArchiveName(checkpointArchiveName('pod-a', 'ns-b', 'app', d));
        expect(parsed?.time.getTime()).toBe(Math.floor(d.getTime() / 1000) * 1000);
        expect(rfc3339Seconds(d)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      }),
    );
  });

  it('rejects names that are not checkpoint archives', () => {
    expect(parseCheckpointArchiveName('checkpoint-web-0_shop-counter.tar')).toBeUndefined();
    expect(parseCheckpointArchiveName('backup-web-0_shop-counter-2026-11-24T07:05:09Z.tar')).toBeUndefined();
    expect(parseCheckpointArchiveName('checkpoint-web-0_shop-counter-2026-13-45T07:05:09Z.tar')).toBeUndefined();
  });
});

describe('checkpoint archive layout', () => {
  it('is an uncompressed tar with the CRI-O entries, checkpoint/ 0700 and CRIU images 0600, file 0600', async () => {
    const path = join(dir, checkpointArchiveName('web-0', 'shop', 'counter', new Date('2026-11-24T07:05:09Z')));
    await writeCheckpointArchive(path, input());
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const data = await readFile(path);
    expect(data.subarray(257, 262).toString()).toBe('ustar'); // not gzip: a tar header first
    const entries = await tarEntries(data);
    const names = entries.map((e) => e.name.replace(/\/$/, ''));
    for (const want of [
      'config.dump',
      'spec.dump',
      'checkpoint',
      'checkpoint/inventory.img',
      'checkpoint/pages-1.img',
      'checkpoint/pagemap-1.img',
      'checkpoint/core-1.img',
      'rootfs-diff.tar',
      'deleted.files',
      'bind.mounts',
      'devshm-checkpoint.tar',
      'dump.log',
      'stats-dump',
      'container.log',
    ]) {
      expect(names).toContain(want);
    }
    const byName = new Map(entries.map((e) => [e.name.replace(/\/$/, ''), e]));
    expect(byName.get('checkpoint')).toMatchObject({ type: 'directory', mode: 0o700 });
    expect(byName.get('checkpoint/pages-1.img')!.mode).toBe(0o600);
    expect(byName.get('checkpoint/inventory.img')!.mode).toBe(0o600);
    // The memory image is the container's memory size, in whole pages.
    expect(byName.get('checkpoint/pages-1.img')!.size).toBe(300 * 1024);
    expect(await stat(`${path}.partial`).catch(() => undefined)).toBeUndefined();
  });

  it('spec.dump and config.dump name the pod, container and original image', async () => {
    const path = join(dir, 'dumps.tar');
    await writeCheckpointArchive(path, input({ image: 'reg/ckpt:1', rootfsImageName: 'docker.io/library/counter:1.0' }));
    const a = await readCheckpointArchive(await readFile(path));
    expect(a.config).toMatchObject({ name: 'counter', rootfsImageName: 'docker.io/library/counter:1.0', id: 'a'.repeat(64) });
    const ann = (a.spec as { annotations: Record<string, string> }).annotations;
    expect(ann['io.kubernetes.pod.name']).toBe('web-0');
    expect(ann['io.kubernetes.pod.namespace']).toBe('shop');
    expect(ann['io.kubernetes.container.name']).toBe('counter');
    expect(ann['io.kubernetes.cri-o.ImageName']).toBe('docker.io/library/counter:1.0');
    expect(JSON.parse(ann['io.kubernetes.cri-o.Annotations']!)).toEqual({ 'kcr.io/restore': 'true' });
  });

  it('memory size rounds up to whole pages and never cuts the state', async () => {
    const path = join(dir, 'tiny.tar');
    await writeCheckpointArchive(path, input({ memoryBytes: 10 }));
    const entries = await tarEntries(await readFile(path));
    expect(entries.find((e) => e.name === 'checkpoint/pages-1.img')!.size).toBe(PAGE_SIZE);
    expect((await readCheckpointArchive(await readFile(path))).state.counter).toBe(309);
  });
});

describe('app state through the archive', () => {
  it('a restored run continues from the checkpointed counter', async () => {
    const t0 = Date.parse('2026-11-24T07:00:00Z');
    const run = freshRun(t0);
    const at = t0 + 42_500;
    const saved = stateAt(run, at);
    expect(saved.counter).toBe(42);
    const path = join(dir, 'roundtrip.tar');
    await writeCheckpointArchive(path, input({ state: saved, memoryBytes: 2 * 1024 * 1024 }));
    const raw = await readFile(path);
    for (const data of [raw, gzipSync(raw)]) {
      const back = (await readCheckpointArchive(data)).state;
      expect(back).toEqual(saved);
      const resumed = restoredRun(back, 'reg/shop/web-0:ckpt', at + 10_000);
      expect(stateAt(resumed, at + 10_000 + 5_000)).toMatchObject({ counter: 47, restoredFrom: 'reg/shop/web-0:ckpt' });
    }
  });

  it('any counter survives the round trip (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 2 ** 40 }), fc.integer({ min: 1, max: 64 * 1024 }), async (counter, mem) => {
        const path = join(dir, 'prop.tar');
        const state = { counter, startedAt: '2026-11-24T07:00:00.000Z' };
        await writeCheckpointArchive(path, input({ state, memoryBytes: mem }));
        expect((await readCheckpointArchive(await readFile(path))).state).toEqual(state);
      }),
      { numRuns: 25 },
    );
  });

  it('refuses archives without app state, with a reason', async () => {
    await expect(readCheckpointArchive(Buffer.from('not a tar at all'))).rejects.toThrow();
    const pack = tar.pack();
    pack.entry({ name: 'config.dump' }, '{}');
    pack.entry({ name: 'spec.dump' }, '{}');
    pack.entry({ name: 'checkpoint/pages-1.img' }, Buffer.alloc(8192));
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    await expect(readCheckpointArchive(Buffer.concat(chunks))).rejects.toThrow(/pages-1.img holds no app state/);
    const noPages = join(dir, 'nopages.tar');
    await writeFile(noPages, Buffer.alloc(1024));
    await expect(readCheckpointArchive(await readFile(noPages))).rejects.toThrow(/empty or not a tar/);
  });

  it('rejects malformed state values', () => {
    expect(() => parseAppState({ counter: -1, startedAt: '2026-01-01T00:00:00Z' })).toThrow(/counter/);
    expect(() => parseAppState({ counter: 1.5, startedAt: '2026-01-01T00:00:00Z' })).toThrow(/counter/);
    expect(() => parseAppState({ counter: 1, startedAt: 'yesterday' })).toThrow(/startedAt/);
    expect(() => parseAppState(null)).toThrow(/object/);
  });
});
