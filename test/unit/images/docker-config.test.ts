import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DockerConfigError,
  credentialsFor,
  normalizeRegistryHost,
  parseDockerConfigJson,
} from '../../../src/images/docker-config.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('parseDockerConfigJson', () => {
  it('reads username/password and auth entries, keyed by host[:port]', () => {
    const store = parseDockerConfigJson(
      JSON.stringify({
        auths: {
          'registry.example.com:5000': { username: 'alice', password: 's3cret' },
          'https://index.docker.io/v1/': { auth: b64('bob:pa:ss') },
          'http://Other.Example/some/path': { auth: b64('carol:x') },
          'email-only.example': { email: 'a@b.c' },
        },
      }),
    );
    expect(credentialsFor(store, 'registry.example.com:5000')).toEqual({ username: 'alice', password: 's3cret' });
    // Passwords may contain ':'; only the first one separates.
    expect(credentialsFor(store, 'index.docker.io')).toEqual({ username: 'bob', password: 'pa:ss' });
    expect(credentialsFor(store, 'docker.io')).toEqual({ username: 'bob', password: 'pa:ss' });
    expect(credentialsFor(store, 'other.example')).toEqual({ username: 'carol', password: 'x' });
    expect(credentialsFor(store, 'email-only.example')).toBeUndefined();
    expect(credentialsFor(store, 'registry.example.com')).toBeUndefined();
  });

  it('accepts the legacy .dockercfg shape and bytes', () => {
    const store = parseDockerConfigJson(Buffer.from(JSON.stringify({ 'r.example': { auth: b64('u:p') } })));
    expect(credentialsFor(store, 'r.example')).toEqual({ username: 'u', password: 'p' });
  });

  it.each([
    ['not json', '{"auths": {"r": {"password": "hunter2"'],
    ['an array', '["hunter2"]'],
    ['auths not an object', '{"auths": "hunter2"}'],
    ['entry not an object', '{"auths": {"r.example": "hunter2"}}'],
    ['auth without a colon', `{"auths": {"r.example": {"auth": "${b64('hunter2')}"}}}`],
  ])('rejects %s without quoting the secret', (_what, content) => {
    let error: unknown;
    try {
      parseDockerConfigJson(content);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DockerConfigError);
    expect((error as Error).message).not.toContain('hunter2');
    expect((error as Error).message).not.toContain(b64('hunter2'));
  });

  it('round-trips any credentials through the auth field', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((u) => !u.includes(':')),
        fc.string(),
        (username, password) => {
          const store = parseDockerConfigJson(JSON.stringify({ auths: { 'r.example:443': { auth: b64(`${username}:${password}`) } } }));
          expect(credentialsFor(store, 'R.Example:443')).toEqual({ username, password });
        },
      ),
    );
  });
});

describe('normalizeRegistryHost', () => {
  it.each([
    ['https://index.docker.io/v1/', 'index.docker.io'],
    ['http://127.0.0.1:5000', '127.0.0.1:5000'],
    ['Registry.Example:443/path', 'registry.example:443'],
    ['  r.example  ', 'r.example'],
  ])('%s -> %s', (raw, expected) => expect(normalizeRegistryHost(raw)).toBe(expected));
});
