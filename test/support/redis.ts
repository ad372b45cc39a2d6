// Starts a REAL redis-server (Debian's /usr/bin/redis-server) for tests, benches and the demo.
//
//   const redis = await startRedis();          // 127.0.0.1:<free port>, temp dir, no persistence
//   redis.url    -> 'redis://127.0.0.1:6xxxx'
//   redis.host, redis.port
//   await redis.flushAll();                    // FLUSHALL (e.g. "Redis lost its data")
//   await redis.stop();                        // SIGTERM (SIGKILL after 5 s), removes the temp dir
//
// Options: { appendOnly?: boolean } turns AOF on (the production setting) for tests that restart
// Redis on the same dir; { dir?: string } reuses a data dir (then stop() leaves it in place);
// { password?: string } makes Redis require it (requirepass from an included file, as
// redis/start-redis.sh does; the URL stays without it); { tls?: { cert, key } } serves TLS only
// (redis.url is then rediss://).
// Runs with maxmemory-policy noeviction, as BullMQ requires.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';

export interface RedisServer {
  url: string;
  host: string;
  port: number;
  dir: string;
  /** The password Redis requires, when started with one. */
  password: string | undefined;
  /** FLUSHALL over a raw RESP connection (no client library needed). */
  flushAll(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisOptions {
  appendOnly?: boolean;
  dir?: string;
  port?: number;
  password?: string;
  /** PEM certificate and key: Redis then listens with TLS only (no client certificates asked). */
  tls?: { cert: string; key: string };
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'kcr-redis-')));
  const port = options.port ?? (await freePort());
  const host = '127.0.0.1';
  const args = [
    '--bind', host,
    '--port', String(port),
    '--dir', dir,
    '--save', '',
    '--appendonly', options.appendOnly === true ? 'yes' : 'no',
    '--maxmemory-policy', 'noeviction',
    '--protected-mode', 'no',
    '--daemonize', 'no',
    '--loglevel', 'warning',
  ];
  if (options.password !== undefined) {
    // Out of the process's arguments, as in the cluster.
    const auth = join(dir, 'kcr-test-auth.conf');
    await writeFile(auth, `requirepass "${options.password}"\n`, { mode: 0o600 });
    args.push('--include', auth);
  }
  if (options.tls !== undefined) {
    await writeFile(join(dir, 'kcr-test-tls.crt'), options.tls.cert);
    await writeFile(join(dir, 'kcr-test-tls.key'), options.tls.key, { mode: 0o600 });
    args.splice(args.indexOf('--port'), 2, '--port', '0', '--tls-port', String(port), '--tls-cert-file', join(dir, 'kcr-test-tls.crt'),
      '--tls-key-file', join(dir, 'kcr-test-tls.key'), '--tls-auth-clients', 'no');
  }
  const endpoint: Endpoint = { host, port, password: options.password, tls: options.tls !== undefined };
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // Never leave an orphan redis-server behind when the test process dies first.
  const reap = () => {
    child.kill('SIGKILL');
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', reap);
  // A missing binary emits 'error' and never 'exit'.
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      process.removeListener('exit', reap);
      resolve();
    });
    child.once('error', (err) => {
      spawnError = err;
      process.removeListener('exit', reap);
      resolve();
    });
  });
  const gone = () =>
    spawnError !== undefined
      ? `cannot start redis-server (${spawnError.message}): install it with test/scripts/system-deps.sh`
      : child.exitCode !== null
        ? `redis-server exited (${child.exitCode}): ${output}`
        : undefined;

  try {
    await waitFor(async () => (await command(endpoint, ['PING'])).startsWith('+PONG'), 10_000, gone, () => output);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    url: `${options.tls !== undefined ? 'rediss' : 'redis'}://${host}:${port}`,
    host,
    port,
    dir,
    password: options.password,
    async flushAll() {
      const reply = await command(endpoint, ['FLUSHALL']);
      if (!reply.startsWith('+OK')) throw new Error(`FLUSHALL failed: ${reply}`);
    },
    async stop() {
      await stopChild(child, exited);
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

interface Endpoint {
  host: string;
  port: number;
  password: string | undefined;
  tls: boolean;
}

const resp = (parts: string[]) => `*${parts.length}\r\n` + parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('');

/** Sends one RESP command (after AUTH when there is a password) and returns the reply to it, from its first line on. */
function command(at: Endpoint, parts: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // The test's own certificate: nothing to verify against here.
    const sock = at.tls
      ? tlsConnect({ host: at.host, port: at.port, rejectUnauthorized: false })
      : createConnection({ host: at.host, port: at.port });
    const replies = at.password === undefined ? 1 : 2;
    let data = '';
    sock.setTimeout(5000, () => sock.destroy(new Error('redis command timed out')));
    sock.on('error', reject);
    sock.on('data', (b: Buffer) => {
      data += b.toString();
      const lines = data.split('\r\n');
      if (lines.length > replies) {
        sock.end();
        resolve(lines.slice(replies - 1).join('\r\n'));
      }
    });
    sock.on(at.tls ? 'secureConnect' : 'connect', () => {
      sock.write((at.password === undefined ? '' : resp(['AUTH', at.password])) + resp(parts));
    });
  });
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function waitFor(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  gone: () => string | undefined,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = gone();
    if (why !== undefined) throw new Error(why);
    try {
      if (await probe()) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`redis-server not ready after ${timeoutMs} ms: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

