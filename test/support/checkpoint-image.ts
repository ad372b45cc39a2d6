// Pulls a checkpoint image with skopeo (an independent client, not kcr's code) and returns its
// single layer, the checkpoint archive, and its manifest annotations.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PulledCheckpointImage {
  annotations: Record<string, string>;
  archive: Buffer;
}

/** `authFile`: a dockerconfigjson file (never credentials in arguments); `insecure`: plain HTTP/unverified TLS. */
export async function pullCheckpointImage(image: string, opts: { authFile?: string; insecure?: boolean } = {}): Promise<PulledCheckpointImage> {
  const dir = await mkdtemp(join(tmpdir(), 'kcr-pull-'));
  try {
    await run('skopeo', [
      'copy', '--quiet',
      ...(opts.insecure ? ['--src-tls-verify=false'] : []),
      ...(opts.authFile ? ['--src-authfile', opts.authFile] : []),
      `docker://${image}`, `dir:${dir}`,
    ]);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { layers?: { digest: string }[]; annotations?: Record<string, string> };
    const layers = manifest.layers ?? [];
    if (layers.length !== 1) throw new Error(`${image} has ${layers.length} layers; a checkpoint image has one`);
    const archive = await readFile(join(dir, layers[0]!.digest.replace(/^sha256:/, '')));
    return { annotations: manifest.annotations ?? {}, archive };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** skopeo's answer to reading a manifest: found, not there (manifest unknown), or refused (401/403), with what it printed. */
export async function inspectImage(image: string, opts: { authFile?: string; creds?: string; insecure?: boolean } = {}): Promise<{ outcome: 'found' | 'unknown' | 'refused'; message: string }> {
  try {
    const { stdout } = await run('skopeo', [
      'inspect', '--raw',
      ...(opts.insecure ? ['--tls-verify=false'] : []),
      ...(opts.authFile ? ['--authfile', opts.authFile] : []),
      ...(opts.creds ? ['--creds', opts.creds] : []),
      ...(!opts.authFile && !opts.creds ? ['--no-creds'] : []),
      `docker://${image}`,
    ], { timeout: 30_000 });
    return { outcome: 'found', message: stdout };
  } catch (err) {
    const message = String((err as { stderr?: string }).stderr ?? err);
    // Digests are hex and may hold "404" or "401": classify on the message with them removed.
    const words = message.replace(/sha256:[a-f0-9]{64}/gi, 'sha256:…');
    if (/unauthorized|denied|authentication required|\b40[13]\b/i.test(words)) return { outcome: 'refused', message };
    if (/manifest unknown|not found|\b404\b/i.test(words)) return { outcome: 'unknown', message };
    throw new Error(`skopeo inspect ${image}: ${message}`, { cause: err });
  }
}
