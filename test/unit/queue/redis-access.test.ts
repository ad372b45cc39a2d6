// The password and TLS CA files become ioredis options, and they reach the client kcr builds.
import { describe, expect, it } from 'vitest';
import { createRedisConnection, describeRedisFailure, redisAuthProblem } from '../../../src/queue/connection.ts';
import { RedisAccessError, redisAccessOptions } from '../../../src/queue/redis-access.ts';
import { jobCaps, queueRetentionOptions, workerCaps, DEFAULT_JOB_RETENTION } from '../../../src/queue/job-retention.ts';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function files(map: Record<string, string>) {
  return async (path: string) => {
    const text = map[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    return text;
  };
}

describe('redisAccessOptions', () => {
  it('reads the password (without the trailing newline echo or an editor adds) and the CA', async () => {
    const read = files({ '/etc/kcr/redis/password': 'p4ssw0rd-abcdefgh\n', '/ca.pem': CA });
    expect(await redisAccessOptions({ passwordFile: '/etc/kcr/redis/password', caFile: '/ca.pem' }, read)).toEqual({ password: 'p4ssw0rd-abcdefgh', tls: { ca: CA } });
    expect(await redisAccessOptions({ passwordFile: undefined, caFile: undefined }, read)).toEqual({});
  });

  it('says which setting and which Secret when a file is missing or unusable', async () => {
    const read = files({ '/empty': '\n', '/not-pem': 'hello' });
    await expect(redisAccessOptions({ passwordFile: '/nope', caFile: undefined }, read)).rejects.toThrow(RedisAccessError);
    await expect(redisAccessOptions({ passwordFile: '/nope', caFile: undefined }, read))
      .rejects.toThrow('KCR_REDIS_PASSWORD_FILE /nope cannot be read (ENOENT): mount the Secret kcr-redis (key password) there');
    await expect(redisAccessOptions({ passwordFile: '/empty', caFile: undefined }, read)).rejects.toThrow(/KCR_REDIS_PASSWORD_FILE \/empty is empty/);
    await expect(redisAccessOptions({ passwordFile: undefined, caFile: '/nope' }, read)).rejects.toThrow(/KCR_REDIS_CA_FILE \/nope cannot be read \(ENOENT\)/);
    await expect(redisAccessOptions({ passwordFile: undefined, caFile: '/not-pem' }, read)).rejects.toThrow(/holds no PEM certificate/);
  });

  it('reaches the ioredis client: password, TLS CA, and the URL\'s ACL user', async () => {
    const access = await redisAccessOptions({ passwordFile: '/pw', caFile: '/ca.pem' }, files({ '/pw': 'p4ssw0rd-abcdefgh', '/ca.pem': CA }));
    for (const role of ['producer', 'worker'] as const) {
      const client = createRedisConnection('rediss://kcr@redis.example:6380/2', role, { ...access, lazyConnect: true });
      try {
        expect(client.options).toMatchObject({ host: 'redis.example', port: 6380, db: 2, username: 'kcr', password: 'p4ssw0rd-abcdefgh', tls: { ca: CA } });
      } finally {
        client.disconnect();
      }
    }
    // rediss:// alone: TLS verified against the system's CAs.
    const plain = createRedisConnection('rediss://redis.example:6380', 'producer', { lazyConnect: true });
    expect(plain.options.tls).toBe(true);
    expect(plain.options.password ?? undefined).toBeUndefined();
    plain.disconnect();
  });
});

describe('authentication failures are named', () => {
  it.each([
    ['WRONGPASS invalid username-password pair or user is disabled.', /refused kcr's password \(WRONGPASS\): KCR_REDIS_PASSWORD_FILE must hold the password Redis requires/],
    ['NOAUTH Authentication required.', /requires a password and kcr sent none \(NOAUTH\): set KCR_REDIS_PASSWORD_FILE/],
  ])('%s', (message, want) => {
    expect(redisAuthProblem(new Error(message))).toMatch(want);
    const client = createRedisConnection('redis://127.0.0.1:6390', 'producer', { lazyConnect: true });
    expect(describeRedisFailure(client, new Error(message))).toEqual({ message: expect.stringMatching(/^Redis at 127\.0\.0\.1:6390: /), auth: true });
    client.disconnect();
  });

  it('other errors are "unreachable"', () => {
    expect(redisAuthProblem(new Error('connect ECONNREFUSED 127.0.0.1:6379'))).toBeUndefined();
    const client = createRedisConnection('redis://127.0.0.1:6390', 'producer', { lazyConnect: true });
    expect(describeRedisFailure(client, new Error('connect ECONNREFUSED 127.0.0.1:6390')))
      .toEqual({ message: 'Redis at 127.0.0.1:6390 is unreachable (wait): connect ECONNREFUSED 127.0.0.1:6390', auth: false });
    client.disconnect();
  });
});

describe('job caps', () => {
  it('every job and every queue carries the count AND age caps; workers cap jobs that carry none', () => {
    const r = { completed: { ageSeconds: 60, count: 7 }, failed: { ageSeconds: 120, count: 9 }, eventsMaxLen: 50 };
    expect(jobCaps(r)).toEqual({ removeOnComplete: { age: 60, count: 7 }, removeOnFail: { age: 120, count: 9 }, stackTraceLimit: 1 });
    expect(workerCaps(r)).toEqual({ removeOnComplete: { age: 60, count: 7 }, removeOnFail: { age: 120, count: 9 } });
    expect(queueRetentionOptions(r)).toEqual({ streams: { events: { maxLen: 50 } }, defaultJobOptions: jobCaps(r) });
    expect(jobCaps(DEFAULT_JOB_RETENTION).removeOnComplete).toEqual({ age: 3600, count: 100 });
  });
});
