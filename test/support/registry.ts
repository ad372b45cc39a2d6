// Starts a REAL OCI registry (Debian's /usr/bin/docker-registry, distribution v2) for tests,
// benches and the demo.
//
//   const reg = await startRegistry();                       // plain HTTP on 127.0.0.1:<free port>
//   const reg = await startRegistry({ auth: { username: 'u', password: 'p' } });  // htpasswd Basic
//   const reg = await startRegistry({ tls: { cert: pem, key: pem } });            // HTTPS
//   const reg = await startRegistry({ token: { realm, service, issuer, rootCertBundle } }); // bearer tokens (kcr's token service)
//   reg.host  -> '127.0.0.1:5xxxx'   (what goes into image references)
//   reg.url   -> 'http://127.0.0.1:5xxxx' (or https://)
//   await reg.pause();    // kill the server (SIGKILL), keep storage and port: "registry down"
//   await reg.resume();   // start it again on the same port and storage
//   await reg.stop();     // stop and remove the temp dir (storage, config, htpasswd)
//
// Storage deletes are enabled (retention deletes manifests). The config and htpasswd file live
// in the temp dir; the password never appears in process arguments.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { freePort } from './free-port.ts';

export interface RegistryOptions {
  /** Require HTTP Basic auth with these credentials (htpasswd, bcrypt). */
  auth?: { username: string; password: string };
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
  /** Require bearer tokens from this token service (distribution's auth.token). */
  token?: RegistryTokenAuth;
  port?: number;
  /** Parent directory for the temp dir (storage), e.g. '/dev/shm' to take the disk out of a bench. */
  parentDir?: string;
}

export interface RegistryTokenAuth {
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate(s) whose keys may sign tokens. */
  rootCertBundle: string;
}

/** The `auth.token` block of a docker-registry config; the bundle is written to `bundlePath`. */
export function registryTokenAuthLines(token: RegistryTokenAuth, bundlePath: string): string[] {
  return [
    'auth:',
    '  token:',
    `    realm: ${JSON.stringify(token.realm)}`,
    `    service: ${JSON.stringify(token.service)}`,
    `    issuer: ${JSON.stringify(token.issuer)}`,
    `    rootcertbundle: ${JSON.stringify(bundlePath)}`,
  ];
}

export interface RegistryServer {
  /** host:port, as used in image references. */
  host: string;
  port: number;
  /** http(s)://host:port */
  url: string;
  /** The registry's storage root (filesystem driver). */
  storageDir: string;
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<RegistryServer> {
  const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), 'kcr-registry-'));
  const storageDir = join(dir, 'storage');
  await mkdir(storageDir);
  const port = options.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const url = `${options.tls ? 'https' : 'http'}://${host}`;

  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(storageDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${JSON.stringify(host)}`,
    `  secret: ${JSON.stringify(randomBytes(16).toString('hex'))}`,
  ];
  if (options.tls) {
    await writeFile(join(dir, 'tls.crt'), options.tls.cert);
    await writeFile(join(dir, 'tls.key'), options.tls.key, { mode: 0o600 });
    lines.push('  tls:', `    certificate: ${JSON.stringify(join(dir, 'tls.crt'))}`, `    key: ${JSON.stringify(join(dir, 'tls.key'))}`);
  }
  if (options.auth) {
    // docker-registry's htpasswd accepts bcrypt only.
    const hash = bcrypt.hashSync(options.auth.password, 5);
    await writeFile(join(dir, 'htpasswd'), `${options.auth.username}:${hash}\n`, { mode: 0o600 });
    lines.push('auth:', '  htpasswd:', '    realm: kcr-test', `    path: ${JSON.stringify(join(dir, 'htpasswd'))}`);
  } else if (options.token) {
    await writeFile(join(dir, 'token-signers.pem'), options.token.rootCertBundle);
    lines.push(...registryTokenAuthLines(options.token, join(dir, 'token-signers.pem')));
  }
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, lines.join('\n') + '\n');

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async () => {
    let output = '';
    const c = spawn('/usr/bin/docker-registry', ['serve', configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
    });
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-4000);
    };
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    child = c;
    // Never leave an orphan registry behind when the test process dies first.
    const reap = () => {
      c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    };
    process.once('exit', reap);
    exited = new Promise<void>((resolve) =>
      c.once('exit', () => {
        process.removeListener('exit', reap);
        resolve();
      }),
    );
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`docker-registry exited (${c.exitCode}): ${output}`);
      const status = await probe(url).catch(() => 0);
      if (status === 200 || status === 401) return;
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`docker-registry not ready on ${url}: ${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  try {
    await launch();
  } catch (err) {
    await kill();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    host,
    port,
    url,
    storageDir,
    pause: kill,
    resume: launch,
    async stop() {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child?.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** GET /v2/ -> status code (200 open, 401 auth required). TLS unverified: readiness only. */
function probe(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https') ? httpsRequest : httpRequest)(
      `${url}/v2/`,
      { method: 'GET', rejectUnauthorized: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

