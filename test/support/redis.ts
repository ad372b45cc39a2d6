// Starts a REAL redis-server (Debian's /usr/bin/redis-server) for tests, benches and the demo.
//
//   const redis = await startRedis();          // 127.0.0.1:<free port>, temp dir, no persistence
//   redis.url    -> 'redis://127.0.0.1:6xxxx'
//   redis.host, redis.port
//   await redis.flushAll();                    // FLUSHALL (e.g. "Redis lost its data")
//   await redis.stop();                        // SIGTERM (SIGKILL after 5 s), removes the temp dir
//
// Options: { appendOnly?: boolean } turns AOF on (the production setting) for tests that restart
// Redis on the same dir; { dir?: string } reuses a data dir (then stop() leaves it in place).
// Runs with maxmemory-policy noeviction, as BullMQ requires.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  url: string;
  host: string;
  port: number;
  dir: string;
  /** FLUSHALL over a raw RESP connection (no client library needed). */
  flushAll(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisOptions {
  appendOnly?: boolean;
  dir?: string;
  port?: number;
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
    await waitFor(async () => (await command(host, port, ['PING'])).startsWith('+PONG'), 10_000, gone, () => output);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    url: `redis://${host}:${port}`,
    host,
    port,
    dir,
    async flushAll() {
      const reply = await command(host, port, ['FLUSHALL']);
      if (!reply.startsWith('+OK')) throw new Error(`FLUSHALL failed: ${reply}`);
    },
    async stop() {
      await stopChild(child, exited);
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Sends one RESP command and returns the first reply line. */
function command(host: string, port: number, parts: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host, port });
    let data = '';
    sock.setTimeout(5000, () => sock.destroy(new Error('redis command timed out')));
    sock.on('error', reject);
    sock.on('data', (b) => {
      data += b.toString();
      if (data.includes('\r\n')) {
        sock.end();
        resolve(data);
      }
    });
    sock.on('connect', () => {
      sock.write(`*${parts.length}\r\n` + parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join(''));
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr !== null && typeof addr !== 'string' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
