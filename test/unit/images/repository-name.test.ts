import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  isValidRepository,
  isValidTag,
  repositoryFor,
  sanitizeComponent,
  tagFor,
} from '../../../src/images/repository-name.ts';

describe('repositoryFor', () => {
  it.each([
    [{ prefix: 'kcr', namespace: 'shop', identity: 'redis-0' }, 'kcr/shop/redis-0'],
    [{ prefix: '', namespace: 'shop', identity: 'web' }, 'shop/web'],
    [{ prefix: 'org/team/', namespace: 'a', identity: 'b' }, 'org/team/a/b'],
    [{ prefix: 'KCR', namespace: 'Shop', identity: 'Web.App' }, 'kcr/shop/web.app'],
    [{ prefix: 'kcr', namespace: 'ns', identity: 'a..b' }, 'kcr/ns/a-b'],
    [{ prefix: 'kcr', namespace: 'ns', identity: '__x__y__' }, 'kcr/ns/x__y'],
    [{ prefix: 'kcr', namespace: 'ns', identity: 'ünïcode pod' }, 'kcr/ns/n-code-pod'],
    [{ prefix: 'kcr', namespace: 'ns', identity: '...' }, 'kcr/ns/x'],
  ])('%o -> %s', (input, expected) => {
    expect(repositoryFor(input)).toBe(expected);
  });

  it('keeps two long identities that share a prefix apart', () => {
    const a = repositoryFor({ prefix: 'kcr', namespace: 'ns', identity: 'a'.repeat(200) + '1' });
    const b = repositoryFor({ prefix: 'kcr', namespace: 'ns', identity: 'a'.repeat(200) + '2' });
    expect(a).not.toBe(b);
    expect(isValidRepository(a)).toBe(true);
  });

  it('always yields a name in the distribution grammar, within 255 characters', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.string({ maxLength: 300 }), fc.string({ maxLength: 300 }), (prefix, namespace, identity) => {
        const name = repositoryFor({ prefix, namespace, identity });
        expect(isValidRepository(name)).toBe(true);
        expect(name.length).toBeLessThanOrEqual(255);
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves valid Kubernetes names unchanged', () => {
    const dnsLabel = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
    fc.assert(
      fc.property(dnsLabel, dnsLabel, (namespace, identity) => {
        expect(repositoryFor({ prefix: 'kcr', namespace, identity })).toBe(`kcr/${namespace}/${identity}`);
      }),
    );
  });
});

describe('sanitizeComponent', () => {
  it('is idempotent', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        const once = sanitizeComponent(s);
        expect(sanitizeComponent(once)).toBe(once);
      }),
    );
  });
});

describe('grammar checks', () => {
  it.each(['a', 'a/b', 'a-b/c_d/e.f', 'a__b', 'a---b'])('accepts %s', (n) => expect(isValidRepository(n)).toBe(true));
  it.each(['', 'A', '/a', 'a/', 'a//b', '-a', 'a-', 'a_-b', 'a...b', 'a b', 'a'.repeat(256)])('rejects %j', (n) =>
    expect(isValidRepository(n)).toBe(false),
  );
});

describe('tagFor', () => {
  const at = new Date('2026-11-24T07:05:09.123Z');

  it('is the container and a compact UTC timestamp', () => {
    expect(tagFor('redis', at)).toBe('redis-20261124T070509Z');
  });

  it('sorts by time for one container', () => {
    const later = new Date(at.getTime() + 1000);
    expect(tagFor('c', at) < tagFor('c', later)).toBe(true);
  });

  it('is always a valid tag of at most 128 characters', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), fc.date({ min: new Date('2000-01-01'), max: new Date('2999-12-31'), noInvalidDate: true }), (c, d) => {
        const tag = tagFor(c, d);
        expect(isValidTag(tag)).toBe(true);
        expect(tag.length).toBeLessThanOrEqual(128);
      }),
      { numRuns: 1000 },
    );
  });
});
