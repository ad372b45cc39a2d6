// Reads the small JSON files of a checkpoint archive (config.dump, spec.dump, status.dump) from
// the tar on disk, streaming past everything else (the memory pages can be gigabytes). Thin I/O.
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { ArchiveFactsError, type ArchiveDumps } from './archive-facts.ts';

const WANTED = new Set(['config.dump', 'spec.dump', 'status.dump']);
/** A dump larger than this is not one a runtime writes. */
const MAX_DUMP_BYTES = 4 * 1024 * 1024;

export async function readArchiveDumps(path: string): Promise<ArchiveDumps> {
  const dumps = new Map<string, unknown>();
  const extract = tar.extract();
  const collect = (async () => {
    for await (const entry of extract) {
      const name = entry.header.name.replace(/^\.\//, '');
      if (!WANTED.has(name)) {
        entry.resume();
        continue;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of entry as AsyncIterable<Buffer>) {
        size += c.length;
        if (size > MAX_DUMP_BYTES) throw new ArchiveFactsError(`${name} in the archive is larger than ${MAX_DUMP_BYTES} bytes`);
        chunks.push(c);
      }
      try {
        dumps.set(name, JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        throw new ArchiveFactsError(`${name} in the archive is not JSON`);
      }
    }
  })();
  const head = await new Promise<Buffer>((resolve, reject) => {
    const s = createReadStream(path, { start: 0, end: 1 });
    const parts: Buffer[] = [];
    s.on('data', (c) => parts.push(c as Buffer));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
  const gzip = head[0] === 0x1f && head[1] === 0x8b;
  try {
    await Promise.all([gzip ? pipeline(createReadStream(path), createGunzip(), extract) : pipeline(createReadStream(path), extract), collect]);
  } catch (err) {
    if (err instanceof ArchiveFactsError) throw err;
    throw new ArchiveFactsError(`the archive cannot be read as a tar: ${(err as Error).message}`, { cause: err });
  }
  return dumps;
}
