// Redis settings: the URL names the server only, the password comes from a file, TLS is a
// setting, and the caps on finished jobs are configuration with sane defaults.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseAgentConfig, parseControllerConfig, parseJobRetention } from '../../src/config.ts';
import { DEFAULT_JOB_RETENTION } from '../../src/queue/job-retention.ts';

const agentEnv = { NODE_NAME: 'node-1', KCR_REGISTRY: 'r.example', KCR_REDIS_URL: 'redis://kcr-redis:6379' };

describe('Redis access', () => {
  it('reads the password file and the CA file names, for the controller and the agent alike', () => {
    const env = { KCR_REGISTRY: 'r.example', KCR_REDIS_URL: 'rediss://redis.example:6380', KCR_REDIS_PASSWORD_FILE: '/etc/kcr/redis/password', KCR_REDIS_CA_FILE: '/etc/kcr/redis-ca/ca.crt' };
    for (const config of [parseControllerConfig(env), parseAgentConfig({ ...env, NODE_NAME: 'node-1' })]) {
      expect(config).toMatchObject({ redisUrl: 'rediss://redis.example:6380', redisPasswordFile: '/etc/kcr/redis/password', redisCaFile: '/etc/kcr/redis-ca/ca.crt' });
    }
    expect(parseControllerConfig({ KCR_REGISTRY: 'r.example' })).toMatchObject({ redisUrl: 'redis://127.0.0.1:6379', redisPasswordFile: undefined, redisCaFile: undefined });
    // An ACL user may be named in the URL: it is no secret.
    expect(parseAgentConfig({ ...agentEnv, KCR_REDIS_URL: 'redis://kcr@redis:6379' }).redisUrl).toBe('redis://kcr@redis:6379');
  });

  it.each([
    ['redis://:s3cret@redis:6379'],
    ['redis://kcr:s3cret@redis:6379'],
    ['rediss://kcr:s3cret@redis:6380/2'],
  ])('refuses a password in KCR_REDIS_URL (%s) without repeating it', (url) => {
    for (const parse of [() => parseControllerConfig({ KCR_REGISTRY: 'r.example', KCR_REDIS_URL: url }), () => parseAgentConfig({ ...agentEnv, KCR_REDIS_URL: url })]) {
      expect(parse).toThrow(ConfigError);
      expect(parse).toThrow(/must not carry a password .*KCR_REDIS_PASSWORD_FILE/);
      expect(() => parse()).not.toThrow(/s3cret/);
    }
  });

  it('refuses a password given as an env value, naming the file setting instead', () => {
    expect(() => parseControllerConfig({ KCR_REGISTRY: 'r.example', KCR_REDIS_PASSWORD: 'x' })).toThrow(/KCR_REDIS_PASSWORD is not read.*KCR_REDIS_PASSWORD_FILE/);
    expect(() => parseAgentConfig({ ...agentEnv, KCR_REDIS_PASSWORD: 'x' })).toThrow(/KCR_REDIS_PASSWORD_FILE/);
  });

  it('wants rediss:// for a CA, and redis:// or rediss:// at all', () => {
    expect(() => parseControllerConfig({ KCR_REGISTRY: 'r.example', KCR_REDIS_CA_FILE: '/ca.pem' })).toThrow(/KCR_REDIS_CA_FILE is set but KCR_REDIS_URL is not rediss:\/\//);
    expect(() => parseAgentConfig({ ...agentEnv, KCR_REDIS_URL: 'kcr-redis:6379' })).toThrow(/must start with redis:\/\/ or rediss:\/\//);
    expect(() => parseControllerConfig({ KCR_REGISTRY: 'r.example', KCR_REDIS_URL: 'http://redis:6379' })).toThrow(/must start with redis:\/\/ or rediss:\/\//);
  });
});

describe('caps on finished jobs', () => {
  it('defaults: completed jobs for an hour and at most 100 per queue, failed ones a week and at most 200, 1000 events', () => {
    expect(parseJobRetention({})).toEqual(DEFAULT_JOB_RETENTION);
    expect(DEFAULT_JOB_RETENTION).toEqual({ completed: { ageSeconds: 3600, count: 100 }, failed: { ageSeconds: 604_800, count: 200 }, eventsMaxLen: 1000 });
    expect(parseControllerConfig({ KCR_REGISTRY: 'r.example' }).jobRetention).toEqual(DEFAULT_JOB_RETENTION);
    expect(parseAgentConfig(agentEnv).jobRetention).toEqual(DEFAULT_JOB_RETENTION);
  });

  it('every cap is a setting', () => {
    expect(parseJobRetention({
      KCR_JOBS_KEEP_COMPLETED: '0', KCR_JOBS_KEEP_COMPLETED_SECONDS: '60',
      KCR_JOBS_KEEP_FAILED: '1000', KCR_JOBS_KEEP_FAILED_SECONDS: '86400',
      KCR_JOBS_EVENTS_MAX_LEN: '100',
    })).toEqual({ completed: { ageSeconds: 60, count: 0 }, failed: { ageSeconds: 86_400, count: 1000 }, eventsMaxLen: 100 });
  });

  it.each([
    ['KCR_JOBS_KEEP_COMPLETED', '-1'],
    ['KCR_JOBS_KEEP_COMPLETED', 'all'],
    ['KCR_JOBS_KEEP_FAILED_SECONDS', '0'],
    ['KCR_JOBS_KEEP_COMPLETED_SECONDS', String(31 * 86_400)],
    ['KCR_JOBS_EVENTS_MAX_LEN', '1'],
  ])('refuses %s=%s, naming it', (key, value) => {
    expect(() => parseJobRetention({ [key]: value })).toThrow(new RegExp(`${key} must be an integer between`));
  });
});
