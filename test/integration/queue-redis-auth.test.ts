// Redis with a password and with TLS, on a real redis-server: kcr reads the password from a file
// and the CA from a file, a wrong or missing password gives an error that says so (never the
// password), and redis/start-redis.sh starts Redis with the Secret's password without putting it
// into any process's arguments.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig, parseControllerConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { CheckpointQueues } from '../../src/queue/checkpoint-queues.ts';
import { createRedisConnection, RedisAuthError, waitForReady } from '../../src/queue/connection.ts';
import { redisAccessOptions } from '../../src/queue/redis-access.ts';
import { logRedisAvailability } from '../../src/queue/redis-availability-log.ts';
import { closeWithDeadline } from '../../src/queue/shutdown.ts';
import { fanOut } from '../../src/schedule/fan-out.ts';
import { createCa, issueCert } from '../cluster/pki.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { freePort } from '../support/free-port.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PASSWORD = 'kcr-test-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'kcr-redis-auth-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
};

const job = fanOut({
  schedule: { ref: { kind: 'CheckpointSchedule', namespace: 'apps', name: 'web', uid: 'sched' }, selector: {} },
  pods: [{ metadata: { name: 'web-0', namespace: 'apps', uid: 'u0' }, spec: { nodeName: 'node-a', containers: [{ name: 'app' }] }, status: { phase: 'Running' } }],
  runningCheckpoints: [], now: new Date(), fireTime: new Date(),
}).jobs[0]!;

/** A producer connection built as the controller builds it: config from env, files read by redisAccessOptions. */
async function controllerProducer(env: Record<string, string>): Promise<Redis> {
  const config = parseControllerConfig({ KCR_REGISTRY: 'r.example', ...env });
  return createRedisConnection(config.redisUrl, 'producer', await redisAccessOptions({ passwordFile: config.redisPasswordFile, caFile: config.redisCaFile }));
}

function logCapture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('test', 'debug', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { lines, logger };
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis({ password: PASSWORD });
});
afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Redis with a password', () => {
  it('kcr connects with the password from KCR_REDIS_PASSWORD_FILE (with its trailing newline) and queues a job', async () => {
    const producer = await controllerProducer({ KCR_REDIS_URL: redis.url, KCR_REDIS_PASSWORD_FILE: file('password', `${PASSWORD}\n`) });
    const queues = new CheckpointQueues({ connection: producer, prefix: 'auth-ok' });
    try {
      await waitForReady(producer, 5000);
      const added = await queues.enqueue(job);
      expect(added.id).toBe(job.jobId);
    } finally {
      await queues.close();
      producer.disconnect();
    }
  });

  it('a wrong password fails with an error that says so, names the setting and never shows a password', async () => {
    const producer = await controllerProducer({ KCR_REDIS_URL: redis.url, KCR_REDIS_PASSWORD_FILE: file('wrong', 'not-the-password-at-all\n') });
    const queues = new CheckpointQueues({ connection: producer, prefix: 'auth-wrong' });
    const { lines, logger } = logCapture();
    logRedisAvailability(producer, 'producer', logger);
    try {
      const waited = await waitForReady(producer, 1500).catch((e: unknown) => e);
      expect(waited).toBeInstanceOf(RedisAuthError);
      expect((waited as Error).message).toMatch(/^Redis at 127\.0\.0\.1:\d+: Redis refused kcr's password \(WRONGPASS\): KCR_REDIS_PASSWORD_FILE must hold the password Redis requires \(the Secret kcr-redis, key password/);
      const err = await queues.enqueue(job).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RedisAuthError);
      expect((err as Error).message).toContain('WRONGPASS');
      for (const text of [(err as Error).message, (waited as Error).message, JSON.stringify(lines)]) {
        expect(text).not.toContain('not-the-password-at-all');
        expect(text).not.toContain(PASSWORD);
      }
      // Logged once, however often ioredis retries.
      await new Promise((r) => setTimeout(r, 600));
      const errors = lines.filter((l) => l.level === 'error');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ role: 'producer', auth: true, msg: expect.stringContaining('WRONGPASS') });
    } finally {
      await closeWithDeadline(queues, 1000);
      producer.disconnect();
    }
  });

  it('no password at all: NOAUTH, and the error says to set KCR_REDIS_PASSWORD_FILE', async () => {
    const config = parseAgentConfig({ NODE_NAME: 'node-a', KCR_REGISTRY: 'r.example', KCR_REDIS_URL: redis.url });
    const worker = createRedisConnection(config.redisUrl, 'worker', await redisAccessOptions({ passwordFile: config.redisPasswordFile, caFile: config.redisCaFile }));
    try {
      const err = await waitForReady(worker, 1500).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RedisAuthError);
      expect((err as Error).message).toMatch(/Redis requires a password and kcr sent none \(NOAUTH\): set KCR_REDIS_PASSWORD_FILE to the mounted Secret kcr-redis/);
    } finally {
      worker.disconnect();
    }
  });

  it('a missing password file stops the start with the setting and the Secret named', async () => {
    await expect(controllerProducer({ KCR_REDIS_URL: redis.url, KCR_REDIS_PASSWORD_FILE: join(dir, 'absent') }))
      .rejects.toThrow(/KCR_REDIS_PASSWORD_FILE .*absent cannot be read \(ENOENT\): mount the Secret kcr-redis \(key password\) there/);
  });
});

describe('Redis over TLS (rediss://, KCR_REDIS_CA_FILE)', () => {
  let tlsRedis: RedisServer;
  const ca = createCa('kcr-test-redis-ca');
  beforeAll(async () => {
    const serving = issueCert(ca, { subject: { cn: 'kcr-redis' }, dnsNames: ['localhost'], ips: ['127.0.0.1'], usage: 'server' });
    tlsRedis = await startRedis({ password: PASSWORD, tls: serving });
  });
  afterAll(async () => {
    await tlsRedis?.stop();
  });

  it('connects with the password, checking the certificate against the CA file', async () => {
    expect(tlsRedis.url).toMatch(/^rediss:\/\//);
    const producer = await controllerProducer({ KCR_REDIS_URL: tlsRedis.url, KCR_REDIS_PASSWORD_FILE: file('password-tls', PASSWORD), KCR_REDIS_CA_FILE: file('ca.pem', ca.cert) });
    try {
      await waitForReady(producer, 5000);
      expect(await producer.ping()).toBe('PONG');
      expect(producer.options.tls).toMatchObject({ ca: ca.cert });
    } finally {
      producer.disconnect();
    }
  });

  it('refuses a server whose certificate another CA signed (no CA file: the system\'s CAs)', async () => {
    const producer = await controllerProducer({ KCR_REDIS_URL: tlsRedis.url, KCR_REDIS_PASSWORD_FILE: file('password-tls2', PASSWORD) });
    try {
      const err = await waitForReady(producer, 1500).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/not reachable after 1500 ms: its TLS certificate is not trusted or TLS failed \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\): set KCR_REDIS_CA_FILE/);
    } finally {
      producer.disconnect();
    }
  });
});

describe('redis/start-redis.sh', () => {

  /** The script as the StatefulSet runs it, with the paths moved into a temp dir and a free port. */
  function start(secretText: string | undefined, port: number) {
    const run = mkdtempSync(join(dir, 'run-'));
    const secret = join(run, 'password');
    if (secretText !== undefined) writeFileSync(secret, secretText);
    const child = spawn('/bin/sh', [join(ROOT, 'redis/start-redis.sh'), '--bind', '127.0.0.1', '--port', String(port), '--dir', run, '--appendonly', 'no', '--save', '', '--daemonize', 'no'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KCR_REDIS_PASSWORD_FILE: secret, KCR_REDIS_AUTH_CONF: join(run, 'auth.conf'), KCR_REDIS_CONF: join(ROOT, 'redis/redis.conf') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, run, exited, stderr: () => stderr };
  }

  it('starts Redis requiring the Secret\'s password, which is in no process\'s arguments', async () => {
    const port = await freePort();
    const secret = 'c2VjcmV0LWZyb20tdGhlLXNlY3JldA+/=';
    const s = start(`${secret}\n`, port);
    const producer = createRedisConnection(`redis://127.0.0.1:${port}`, 'producer', await redisAccessOptions({ passwordFile: join(s.run, 'password'), caFile: undefined }));
    try {
      await waitForReady(producer, 10_000);
      expect(await producer.ping()).toBe('PONG');
      // exec: the shell became redis-server; its arguments name files only.
      const cmdline = readFileSync(`/proc/${s.child.pid}/cmdline`, 'utf8');
      expect(cmdline).toContain('redis-server');
      expect(cmdline).not.toContain(secret);
      expect(statSync(join(s.run, 'auth.conf')).mode & 0o077).toBe(0);
      // Without the password, nothing but NOAUTH.
      const anonymous = createRedisConnection(`redis://127.0.0.1:${port}`, 'producer');
      expect((await waitForReady(anonymous, 1500).catch((e: unknown) => e))).toBeInstanceOf(RedisAuthError);
      anonymous.disconnect();
    } finally {
      producer.disconnect();
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });

  it.each([
    [undefined, /password is missing or empty: create the Secret kcr-redis with a key password/],
    ['short\n', /must have at least 16 characters/],
    ['has a "quote" and spaces in it\n', /may use only A-Z a-z 0-9/],
  ])('refuses to start with a Secret of %j, saying why', async (text, why) => {
    const s = start(text, await freePort());
    expect(await s.exited).toBe(1);
    expect(s.stderr()).toMatch(why);
  });
});
