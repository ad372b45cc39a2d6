// npm run bench:push — kcr's checkpoint push against `skopeo copy` of the same archive to the
// same kind of local registry (Debian's docker-registry), plus kcr's peak RSS growth from a
// 64 MiB to a 2 GiB archive (memory must stay flat in the archive's size).
//
// Each measured push gets a fresh registry (fresh storage: nothing can be skipped) and runs in
// its own process. kcr's push is timed inside its process around pushCheckpointImage (the agent
// is long-running: start-up is not part of a push); skopeo's whole run is timed (a Go binary
// starts in ~0.1 s). Both process times are in the table.
// Archives are random bytes (incompressible). skopeo reads an OCI layout whose layer blob is a
// hard link to the same archive; `--preserve-digests` keeps it from recompressing the layer, so
// both tools move the same bytes. The registry's storage is on tmpfs (/dev/shm) when there is
// one, so this slow shared disk is not what is measured. Temp files are removed at the end.
//
// Flags: --sizes 64,2048 (MiB)  --reps 3. The machine may be shared: the tools alternate and the
// RESULT uses medians.
import { execFile, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { link, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { startRegistry } from '../support/registry.ts';
import { RegistryClient } from '../../src/images/registry-client.ts';
import { pushCheckpointImage } from '../../src/images/push-checkpoint-image.ts';
import { buildImageConfig, buildManifest, checkpointAnnotations, sha256Digest } from '../../src/images/image-manifest.ts';
import { MEDIA_TYPES } from '../../src/images/media-types.ts';
import { HashingStream } from '../../src/images/hashing-stream.ts';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

const MiB = 1 << 20;
const run = promisify(execFile);

// --- child mode: one push, report {maxRssKiB} on stdout -------------------------------------
if (process.argv[2] === '--child') {
  const [, , , archivePath, host, repository] = process.argv;
  const client = new RegistryClient({ endpoint: { host: host!, scheme: 'http', tlsVerify: false } });
  const started = performance.now();
  const pushed = await pushCheckpointImage(client, {
    archivePath: archivePath!,
    repository: repository!,
    tag: 'bench',
    architecture: 'amd64',
    container: 'bench',
    pod: 'bench-0',
    namespace: 'bench',
    identity: 'bench-0',
    originalImage: 'docker.io/library/redis:7',
    createdAt: new Date(),
  });
  const pushSeconds = (performance.now() - started) / 1000;
  client.close();
  const usage = process.resourceUsage();
  const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
  process.stdout.write(JSON.stringify({ maxRssKiB: usage.maxRSS, cpuSeconds, pushSeconds, layerDigest: pushed.layerDigest }) + '\n');
  process.exit(0);
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const sizes = arg('sizes', '64,2048').split(',').map(Number);
const reps = Number(arg('reps', '3'));

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  const block = Buffer.alloc(8 * MiB);
  for (let done = 0; done < bytes; done += block.length) {
    const n = Math.min(block.length, bytes - done);
    randomFillSync(block, 0, n);
    if (!out.write(Buffer.from(block.subarray(0, n)))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function fileDigest(path: string): Promise<string> {
  const h = new HashingStream();
  await pipeline(createReadStream(path, { highWaterMark: MiB }), h, async (src) => {
    for await (const _ of src);
  });
  return h.digest;
}

/** An OCI layout whose only layer is (a hard link to) the archive. */
async function ociLayout(dir: string, archive: string, digest: string, size: number): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  await link(archive, join(blobs, digest.slice(7)));
  const created = new Date();
  const annotations = checkpointAnnotations({
    container: 'bench', pod: 'bench-0', namespace: 'bench', identity: 'bench-0',
    originalImage: 'docker.io/library/redis:7', createdAt: created,
  });
  const config = buildImageConfig({ architecture: 'amd64', os: 'linux', diffId: digest, created, labels: annotations });
  const configDigest = sha256Digest(config);
  await writeFile(join(blobs, configDigest.slice(7)), config);
  const manifest = buildManifest(
    { mediaType: MEDIA_TYPES.config, digest: configDigest, size: config.byteLength },
    { mediaType: MEDIA_TYPES.layerTar, digest, size },
    annotations,
  );
  const manifestDigest = sha256Digest(manifest);
  await writeFile(join(blobs, manifestDigest.slice(7)), manifest);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: MEDIA_TYPES.manifest, digest: manifestDigest, size: manifest.byteLength, annotations: { 'org.opencontainers.image.ref.name': 'bench' } },
      ],
    }),
  );
}

function childPush(
  archive: string,
  host: string,
  repo: string,
): Promise<{ seconds: number; pushSeconds: number; maxRssKiB: number; cpuSeconds: number; layerDigest: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [import.meta.filename, '--child', archive, host, repo], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) return reject(new Error(`push child exited ${code}`));
      const r = JSON.parse(out) as { maxRssKiB: number; cpuSeconds: number; pushSeconds: number; layerDigest: string };
      resolve({ seconds, ...r });
    });
  });
}

async function skopeoPush(layout: string, host: string, repo: string): Promise<{ seconds: number; cpuSeconds?: number; maxRssKiB?: number }> {
  const args = ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${host}/${repo}:bench`];
  const timeFile = `${layout}.time`;
  // /usr/bin/time (when installed) reports skopeo's CPU seconds and peak RSS, for the table only.
  const timed = existsSync('/usr/bin/time');
  const started = performance.now();
  if (timed) await run('/usr/bin/time', ['-f', '%U %S %M', '-o', timeFile, 'skopeo', ...args], { maxBuffer: 16 * MiB });
  else await run('skopeo', args, { maxBuffer: 16 * MiB });
  const seconds = (performance.now() - started) / 1000;
  if (!timed) return { seconds };
  const [user, sys, rss] = (await readFile(timeFile, 'utf8')).trim().split(/\s+/).slice(-3).map(Number);
  await rm(timeFile, { force: true });
  return { seconds, cpuSeconds: user! + sys!, maxRssKiB: rss! };
}

interface Row {
  sizeMiB: number;
  tool: string;
  rep: number;
  /** The push: kcr's pushCheckpointImage call (what the long-running agent spends), skopeo's whole run. */
  seconds: number;
  /** Whole process, start-up included. */
  processSeconds: number;
  mibPerSec: number;
  maxRssMiB?: number;
  cpuSeconds?: number;
}

const registryOptions = existsSync('/dev/shm') ? { parentDir: '/dev/shm' } : {};
const work = await mkdtemp(join(tmpdir(), 'kcr-bench-push-'));
const rows: Row[] = [];
const cleanup = () => rm(work, { recursive: true, force: true });
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
try {
  for (const sizeMiB of sizes) {
    const archive = join(work, `archive-${sizeMiB}.tar`);
    const bytes = sizeMiB * MiB;
    console.log(`writing ${sizeMiB} MiB of random bytes`);
    await writeRandomFile(archive, bytes);
    const digest = await fileDigest(archive);
    const layout = join(work, `oci-${sizeMiB}`);
    await ociLayout(layout, archive, digest, bytes);
    for (let rep = 1; rep <= reps; rep++) {
      // kcr
      let reg = await startRegistry(registryOptions);
      try {
        const r = await childPush(archive, reg.host, `bench/kcr-${sizeMiB}-${rep}`);
        if (r.layerDigest !== digest) throw new Error(`kcr pushed ${r.layerDigest}, archive is ${digest}`);
        rows.push({
          sizeMiB, tool: 'kcr', rep, seconds: r.pushSeconds, processSeconds: r.seconds, mibPerSec: sizeMiB / r.pushSeconds, maxRssMiB: r.maxRssKiB / 1024, cpuSeconds: r.cpuSeconds,
        });
      } finally {
        await reg.stop();
      }
      // skopeo
      reg = await startRegistry(registryOptions);
      try {
        const s = await skopeoPush(layout, reg.host, `bench/skopeo-${sizeMiB}-${rep}`);
        rows.push({
          sizeMiB, tool: 'skopeo', rep, seconds: s.seconds, processSeconds: s.seconds, mibPerSec: sizeMiB / s.seconds,
          maxRssMiB: s.maxRssKiB === undefined ? undefined : s.maxRssKiB / 1024, cpuSeconds: s.cpuSeconds,
        });
      } finally {
        await reg.stop();
      }
    }
    await rm(layout, { recursive: true, force: true });
    await rm(archive, { force: true });
  }
} finally {
  await cleanup();
}

console.log('');
console.log('size_MiB  tool    rep  push_s  process_s    MiB/s  cpu_s  peak_RSS_MiB');
for (const r of rows) {
  console.log(
    `${String(r.sizeMiB).padStart(8)}  ${r.tool.padEnd(6)}  ${String(r.rep).padStart(3)}  ${r.seconds.toFixed(2).padStart(6)}  ${r.processSeconds.toFixed(2).padStart(9)}  ${r.mibPerSec.toFixed(1).padStart(7)}  ${r.cpuSeconds === undefined ? '    -' : r.cpuSeconds.toFixed(2).padStart(5)}  ${r.maxRssMiB === undefined ? '-' : r.maxRssMiB.toFixed(1)}`,
  );
}
const big = Math.max(...sizes);
const small = Math.min(...sizes);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const best = (tool: string, size: number) => median(rows.filter((r) => r.tool === tool && r.sizeMiB === size).map((r) => r.mibPerSec));
const peak = (size: number) => Math.max(...rows.filter((r) => r.tool === 'kcr' && r.sizeMiB === size).map((r) => r.maxRssMiB ?? 0));
const ours = best('kcr', big);
const theirs = best('skopeo', big);
const growth = peak(big) - peak(small);
console.log(`(throughputs: median of ${reps} on the ${big} MiB archive; RSS growth: kcr peak RSS ${big} MiB minus ${small} MiB)`);
console.log(`RESULT mib_s=${ours.toFixed(1)} skopeo_mib_s=${theirs.toFixed(1)} ratio_vs_skopeo=${(ours / theirs).toFixed(2)} rss_growth_mib=${growth.toFixed(1)}`);
