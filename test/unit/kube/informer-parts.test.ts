// The projecting informer's pure parts: watch lines parsed (events, bookmarks, 410), the stream
// split into lines however it is chunked, list/watch queries, the silent bound, and the store's
// relist diff (the stored keys end equal to the list's).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../../src/kube/line-splitter.ts';
import { listPageUrl, silentBoundMs, watchTimeoutSeconds, watchUrl } from '../../../src/kube/list-query.ts';
import { ProjectedStore } from '../../../src/kube/projected-store.ts';
import { parseWatchLine } from '../../../src/kube/watch-event.ts';

describe('parseWatchLine', () => {
  it.each([
    ['{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"}}}', { type: 'ADDED', resourceVersion: '5' }],
    ['{"type":"DELETED","object":{"metadata":{"name":"a"}}}', { type: 'DELETED', resourceVersion: undefined }],
    ['{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"77"}}}', { type: 'BOOKMARK', resourceVersion: '77' }],
    ['{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old"}}', { type: 'ERROR', code: 410, reason: 'Expired', message: 'too old' }],
    ['{"type":"MODIFIED"}', { type: 'invalid' }],
    ['{"type":"WHAT","object":{}}', { type: 'invalid' }],
    ['not json', { type: 'invalid', why: 'not JSON' }],
    ['[1]', { type: 'invalid' }],
  ])('%s', (line, expected) => {
    expect(parseWatchLine(line)).toMatchObject(expected);
  });
});

describe('LineSplitter', () => {
  it('gives the same lines however the stream is cut into chunks', () => {
    fc.assert(fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => s.replaceAll('\n', '').trim()).filter((s) => s !== ''), { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 10 }), (lines, cuts) => {
        const text = lines.map((l) => `${l}\n`).join('');
        const points = [...new Set(cuts.map((c) => (text.length === 0 ? 0 : c % text.length)))].sort((a, b) => a - b);
        const splitter = new LineSplitter();
        const out: string[] = [];
        let from = 0;
        for (const p of [...points, text.length]) {
          out.push(...splitter.push(text.slice(from, p)));
          from = p;
        }
        out.push(...splitter.end());
        expect(out).toEqual(lines);
      }));
  });
  it('keeps a last line without a newline until the end', () => {
    const s = new LineSplitter();
    expect(s.push('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(s.push(':2}')).toEqual([]);
    expect(s.end()).toEqual(['{"b":2}']);
  });
});

describe('list and watch queries', () => {
  it('a page: limit, continue and selectors, no resourceVersion (a consistent, paginated read)', () => {
    expect(listPageUrl('/api/v1/pods', {}, 500, undefined)).toBe('/api/v1/pods?limit=500');
    expect(listPageUrl('/api/v1/namespaces/k/configmaps', { fieldSelector: 'metadata.name=x' }, 10, 'tok/en')).toBe('/api/v1/namespaces/k/configmaps?limit=10&fieldSelector=metadata.name%3Dx&continue=tok%2Fen');
  });
  it('a watch: from the resourceVersion, with bookmarks and a server timeout', () => {
    expect(watchUrl('/api/v1/pods', { labelSelector: 'a=b' }, '42', 300)).toBe('/api/v1/pods?watch=true&resourceVersion=42&allowWatchBookmarks=true&timeoutSeconds=300&labelSelector=a%3Db');
  });
  it('the silent bound is past the server timeout unless given', () => {
    fc.assert(fc.property(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (r) => {
      const t = watchTimeoutSeconds(r);
      expect(t).toBeGreaterThanOrEqual(240);
      expect(t).toBeLessThan(300);
      expect(silentBoundMs(t, undefined)).toBeGreaterThan(t * 1000);
    }));
    expect(silentBoundMs(300, 1000)).toBe(1000);
  });
});

describe('ProjectedStore', () => {
  it.each([
    [undefined, '1', 'add'],
    ['1', '1', 'same'],
    ['1', '2', 'update'],
    ['1', undefined, 'update'],
  ] as const)('stored rv %s, listed rv %s: %s', (stored, listed, expected) => {
    const s = new ProjectedStore<string>();
    if (stored !== undefined) s.apply('k', 'old', stored);
    expect(s.apply('k', 'new', listed)).toBe(expected);
    expect(s.get('k')?.obj).toBe(expected === 'same' ? 'old' : 'new');
  });

  it('a relist applied as a diff leaves exactly the listed keys, with the listed values', () => {
    const entries = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), fc.constantFrom('1', '2', '3'));
    fc.assert(fc.property(entries, entries, (before, after) => {
      const s = new ProjectedStore<string>();
      for (const [k, rv] of Object.entries(before)) s.apply(k, `v${rv}`, rv);
      const seen = new Set(Object.keys(after));
      for (const [k, rv] of Object.entries(after)) s.apply(k, `v${rv}`, rv);
      for (const k of s.vanished(seen)) s.delete(k);
      expect(Object.fromEntries([...Object.keys(after)].map((k) => [k, s.get(k)?.obj]))).toEqual(Object.fromEntries(Object.entries(after).map(([k, rv]) => [k, `v${rv}`])));
      expect(s.size).toBe(seen.size);
    }));
  });
});
