import { describe, expect, it } from 'vitest';
import { parseWwwAuthenticate } from '../../../src/images/www-authenticate.ts';
import { scopeCovers } from '../../../src/images/registry-auth.ts';

describe('parseWwwAuthenticate', () => {
  it('reads a Bearer challenge whose scope holds a comma', () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:kcr/ns/app:pull,push"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:kcr/ns/app:pull,push' },
      },
    ]);
  });

  it('reads Basic, spaces after commas, unquoted values and escaped quotes', () => {
    expect(parseWwwAuthenticate('Basic realm="kcr \\"test\\"", charset=UTF-8')).toEqual([
      { scheme: 'basic', params: { realm: 'kcr "test"', charset: 'UTF-8' } },
    ]);
  });

  it('separates several challenges in one header', () => {
    const c = parseWwwAuthenticate('Basic realm="a", Bearer realm="https://t/x", error="invalid_token"');
    expect(c.map((x) => x.scheme)).toEqual(['basic', 'bearer']);
    expect(c[1]!.params).toEqual({ realm: 'https://t/x', error: 'invalid_token' });
  });

  it.each(['', '   ', ',,,', '"unterminated'])('survives junk %j', (h) => {
    expect(() => parseWwwAuthenticate(h)).not.toThrow();
  });

  it('skips a token68 credential', () => {
    expect(parseWwwAuthenticate('Negotiate abc123==, Bearer realm="r"').map((c) => c.scheme)).toEqual(['negotiate', 'bearer']);
  });
});

describe('scopeCovers', () => {
  it.each([
    ['repository:a/b:pull,push', 'repository:a/b:pull', true],
    ['repository:a/b:pull,push', 'repository:a/b:pull,push', true],
    ['repository:a/b:*', 'repository:a/b:delete', true],
    ['repository:a/b:pull', 'repository:a/b:pull,push', false],
    ['repository:a/b:pull,push', 'repository:a/c:pull', false],
    ['repository:a/b:pull,push', 'repository:a/b:delete', false],
  ])('%s covers %s: %s', (granted, wanted, covers) => expect(scopeCovers(granted, wanted)).toBe(covers));
});
