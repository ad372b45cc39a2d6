// Checkpoint archives laid out as CRI-O writes them (and checkpointctl reads them):
// config.dump, spec.dump, checkpoint/ (CRIU images), rootfs-diff.tar, deleted.files,
// bind.mounts, devshm-checkpoint.tar, dump.log, stats-dump, container.log. Uncompressed tar.
// The app's memory is checkpoint/pages-1.img: one JSON line with the state, then filler
// bytes up to the container's simulated memory size.
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { gunzipSync } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { parseAppState, type AppState } from './app-state.ts';

export const PAGE_SIZE = 4096;
const PAGES_MAGIC = 'kcr-sim-counter';

/** What a checkpoint records about the container, besides its memory. */
export interface ArchiveInput {
  containerId: string;
  containerName: string;
  podName: string;
  namespace: string;
  podUid: string;
  /** The image the container runs (a checkpoint image after a restore). */
  image: string;
  imageRef: string;
  /** The image the container's root filesystem came from (the original, not a checkpoint image). */
  rootfsImageName: string;
  podAnnotations: Record<string, string>;
  podLabels: Record<string, string>;
  args: string[];
  env: string[];
  createdAt: Date;
  checkpointedAt: Date;
  state: AppState;
  memoryBytes: number;
}

/** The archive's entries, in order; `pages` is streamed separately (it can be large). */
export interface ArchiveLayoutEntry {
  name: string;
  type: 'file' | 'directory';
  mode: number;
  content?: Buffer;
}

// CRIU image files start with a 32-bit little-endian image magic pair (img-common magic,
// then the image's own). The payload here is a stand-in; pages-*.img has no header in CRIU.
const CRIU_MAGIC = { common: 0x54564319, inventory: 0x58313116, core: 0x55053847, pagemap: 0x56084025, mm: 0x57492820, pstree: 0x50273030, ids: 0x54432030, files: 0x56303138, fs: 0x51403912, stats: 0x57093306 } as const;

function criuImage(magic: number, payload: object): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(CRIU_MAGIC.common, 0);
  head.writeUInt32LE(magic, 4);
  return Buffer.concat([head, Buffer.from(JSON.stringify(payload))]);
}

function emptyTar(): Buffer {
  return Buffer.alloc(1024); // two zero blocks: an empty tar archive
}

export function pagesSize(memoryBytes: number, header: Buffer): number {
  const wanted = Math.max(memoryBytes, header.length);
  return Math.ceil(wanted / PAGE_SIZE) * PAGE_SIZE;
}

export function pagesHeader(state: AppState): Buffer {
  return Buffer.from(`${JSON.stringify({ app: PAGES_MAGIC, state })}\n`);
}

/** CRI-O's config.dump and spec.dump contents for a container. */
export function dumps(input: ArchiveInput): { config: object; spec: object } {
  const config = {
    id: input.containerId,
    name: input.containerName,
    rootfsImage: input.rootfsImageName,
    rootfsImageRef: input.imageRef,
    rootfsImageName: input.rootfsImageName,
    runtime: 'runc',
    createdTime: input.createdAt.toISOString(),
    checkpointedTime: input.checkpointedAt.toISOString(),
    restoredTime: '0001-01-01T00:00:00Z',
    restored: false,
  };
  const spec = {
    ociVersion: '1.2.0',
    process: { user: { uid: 0, gid: 0 }, args: input.args, env: input.env, cwd: '/' },
    root: { path: `/var/lib/containers/storage/overlay/${input.containerId}/merged` },
    hostname: input.podName,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev/shm', type: 'bind', source: `/run/containers/storage/overlay-containers/${input.containerId}/userdata/shm`, options: ['rw', 'bind'] },
      { destination: '/etc/hosts', type: 'bind', source: `/var/lib/kubelet/pods/${input.podUid}/etc-hosts`, options: ['rw', 'rbind'] },
    ],
    annotations: {
      'io.kubernetes.pod.name': input.podName,
      'io.kubernetes.pod.namespace': input.namespace,
      'io.kubernetes.pod.uid': input.podUid,
      'io.kubernetes.container.name': input.containerName,
      'io.kubernetes.cri-o.ContainerID': input.containerId,
      'io.kubernetes.cri-o.ContainerType': 'container',
      'io.kubernetes.cri-o.ImageName': input.rootfsImageName,
      'io.kubernetes.cri-o.ImageRef': input.imageRef,
      'io.kubernetes.cri-o.Image': input.image,
      'io.kubernetes.cri-o.Annotations': JSON.stringify(input.podAnnotations),
      'io.kubernetes.cri-o.Labels': JSON.stringify(input.podLabels),
    },
    linux: { namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }] },
  };
  return { config, spec };
}

/** Every entry except checkpoint/pages-1.img, which comes right after checkpoint/pagemap-1.img. */
export function archiveLayout(input: ArchiveInput): ArchiveLayoutEntry[] {
  const { config, spec } = dumps(input);
  const pages = pagesSize(input.memoryBytes, pagesHeader(input.state));
  const file = (name: string, content: Buffer, mode = 0o644): ArchiveLayoutEntry => ({ name, type: 'file', mode, content });
  const img = (name: string, magic: number, payload: object) => file(`checkpoint/${name}`, criuImage(magic, payload), 0o600);
  return [
    file('config.dump', Buffer.from(JSON.stringify(config, null, 2))),
    file('spec.dump', Buffer.from(JSON.stringify(spec, null, 2))),
    { name: 'checkpoint', type: 'directory', mode: 0o700 },
    img('inventory.img', CRIU_MAGIC.inventory, { imgVersion: 2, rootIds: { pid: 1 }, ns_per_id: true, lsmtype: 'NO_LSM' }),
    img('pstree.img', CRIU_MAGIC.pstree, { pid: 1, ppid: 0, pgid: 1, sid: 1 }),
    img('ids-1.img', CRIU_MAGIC.ids, { vmId: 1, filesId: 1, fsId: 1 }),
    img('core-1.img', CRIU_MAGIC.core, { mtype: 'X86_64', tc: { taskState: 1, exitCode: 0, comm: input.containerName } }),
    img('mm-1.img', CRIU_MAGIC.mm, { vmas: 1 }),
    img('fs-1.img', CRIU_MAGIC.fs, { cwdId: 1, rootId: 1 }),
    img('files.img', CRIU_MAGIC.files, { entries: 3 }),
    img('pagemap-1.img', CRIU_MAGIC.pagemap, { pagesId: 1, entries: [{ vaddr: '0x7f0000000000', nrPages: pages / PAGE_SIZE }] }),
    file('rootfs-diff.tar', emptyTar()),
    file('deleted.files', Buffer.from('[]')),
    file('bind.mounts', Buffer.from(JSON.stringify([{ destination: '/etc/hosts', source: `/var/lib/kubelet/pods/${input.podUid}/etc-hosts`, fileType: 'file', permissions: 420 }]))),
    file('devshm-checkpoint.tar', emptyTar()),
    file('dump.log', Buffer.from(`(00.000000) Version: 4.1 (gitid 0)\n(00.000001) Dumping task ${input.containerName} (counter ${input.state.counter})\n(00.000100) Dumping finished successfully\n`)),
    file('stats-dump', criuImage(CRIU_MAGIC.stats, { dump: { freezingTime: 1000, frozenTime: 2000, memdumpTime: 500, pagesWritten: pages / PAGE_SIZE } })),
    file('container.log', Buffer.from(`${input.createdAt.toISOString()} stdout F counter started\n`)),
  ];
}

// A deterministic pseudo-random block (xorshift32) repeated as filler: memory does not
// compress to nothing, and the same state gives the same bytes.
function fillerBlock(seed: number): Buffer {
  const block = Buffer.alloc(64 * 1024);
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < block.length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    block.writeUInt32LE(x, i);
  }
  return block;
}

function seedOf(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

async function writeEntry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }, content: Buffer): Promise<void> {
  await new Promise<void>((res, rej) => pack.entry(header, content, (err) => (err ? rej(err) : res())));
}

async function writePages(pack: tar.Pack, name: string, mtime: Date, input: ArchiveInput): Promise<void> {
  const header = pagesHeader(input.state);
  const size = pagesSize(input.memoryBytes, header);
  const done = new Promise<void>((res, rej) => {
    const entry = pack.entry({ name, size, mode: 0o600, mtime, type: 'file' }, (err) => (err ? rej(err) : res()));
    void (async () => {
      const block = fillerBlock(seedOf(input.containerId));
      let left = size;
      const first = Buffer.concat([header, block.subarray(0, Math.min(left, block.length) - header.length)]);
      const chunks = function* () {
        yield first.subarray(0, Math.min(first.length, left));
        left -= Math.min(first.length, left);
        while (left > 0) {
          const n = Math.min(left, block.length);
          left -= n;
          yield block.subarray(0, n);
        }
      };
      for (const c of chunks()) {
        if (!entry.write(c)) await once(entry, 'drain');
      }
      entry.end(null);
    })().catch(rej);
  });
  await done;
}

/**
 * Writes the archive to `path` (mode 0600) through a temporary name, so a reader never sees a
 * partial archive under the final name.
 */
export async function writeCheckpointArchive(path: string, input: ArchiveInput): Promise<void> {
  const tmp = `${path}.partial`;
  const pack = tar.pack();
  const out = createWriteStream(tmp, { mode: 0o600 });
  const piping = pipeline(pack, out);
  try {
    const mtime = input.checkpointedAt;
    for (const e of archiveLayout(input)) {
      if (e.type === 'directory') {
        await writeEntry(pack, { name: `${e.name}/`, type: 'directory', mode: e.mode, mtime }, Buffer.alloc(0));
        continue;
      }
      await writeEntry(pack, { name: e.name, type: 'file', mode: e.mode, mtime }, e.content!);
      if (e.name === 'checkpoint/pagemap-1.img') await writePages(pack, 'checkpoint/pages-1.img', mtime, input);
    }
    pack.finalize();
    await piping;
    await rename(tmp, path);
  } catch (err) {
    pack.destroy(err as Error);
    await piping.catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

export interface ArchiveEntryInfo {
  name: string;
  type: string;
  mode: number;
  size: number;
}

export interface ReadArchive {
  entries: ArchiveEntryInfo[];
  state: AppState;
  config: Record<string, unknown>;
  spec: Record<string, unknown>;
}

function isGzip(b: Buffer): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** Reads an archive (plain or gzip tar) and the app state in its checkpoint/pages-1.img. */
export async function readCheckpointArchive(data: Buffer): Promise<ReadArchive> {
  const tarBytes = isGzip(data) ? gunzipSync(data) : data;
  const extract = tar.extract();
  const entries: ArchiveEntryInfo[] = [];
  let pagesHead: Buffer | undefined;
  let config: Record<string, unknown> | undefined;
  let spec: Record<string, unknown> | undefined;
  const collect = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const name = h.name.replace(/^\.\//, '').replace(/\/$/, '');
      entries.push({ name, type: h.type ?? 'file', mode: (h.mode ?? 0) & 0o7777, size: h.size ?? 0 });
      const wantAll = name === 'config.dump' || name === 'spec.dump';
      const chunks: Buffer[] = [];
      let got = 0;
      for await (const c of entry as AsyncIterable<Buffer>) {
        if (wantAll || (name === 'checkpoint/pages-1.img' && got < PAGE_SIZE)) {
          chunks.push(c);
          got += c.length;
        }
      }
      if (name === 'config.dump') config = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      if (name === 'spec.dump') spec = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      if (name === 'checkpoint/pages-1.img') pagesHead = Buffer.concat(chunks);
    }
  })();
  extract.end(tarBytes);
  await collect;
  if (entries.length === 0) throw new Error('checkpoint archive is empty or not a tar archive');
  if (!pagesHead) throw new Error('checkpoint archive has no checkpoint/pages-1.img');
  if (!config || !spec) throw new Error('checkpoint archive lacks config.dump or spec.dump');
  return { entries, state: decodePagesHeader(pagesHead), config, spec };
}

export function decodePagesHeader(head: Buffer): AppState {
  const nl = head.indexOf(0x0a);
  if (nl < 0) throw new Error('checkpoint/pages-1.img holds no app state');
  let parsed: unknown;
  try {
    parsed = JSON.parse(head.subarray(0, nl).toString('utf8'));
  } catch {
    throw new Error('checkpoint/pages-1.img holds no app state');
  }
  const p = parsed as { app?: unknown; state?: unknown };
  if (p.app !== PAGES_MAGIC) throw new Error('checkpoint/pages-1.img was not written by the sample app');
  return parseAppState(p.state);
}
