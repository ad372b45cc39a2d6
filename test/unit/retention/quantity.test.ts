import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseQuantity, QuantityError } from '../../../src/retention/quantity.ts';

describe('parseQuantity', () => {
  it.each([
    ['10Gi', 10 * 2 ** 30],
    ['500Mi', 500 * 2 ** 20],
    ['1Ki', 1024],
    ['2Ti', 2 * 2 ** 40],
    ['1G', 1e9],
    ['1.5G', 1.5e9],
    ['1.1G', 1_100_000_000],
    ['100M', 1e8],
    ['1k', 1000],
    ['123', 123],
    ['1e9', 1e9],
    ['1E3', 1000],
    ['0', 0],
    ['.5Ki', 512],
    ['1500m', 2],
    ['+1Gi', 2 ** 30],
  ])('%s -> %d bytes', (text, bytes) => {
    expect(parseQuantity(text)).toBe(bytes);
  });

  it.each(['', '10GB', '10 Gi', 'Gi', '-1Gi', '1.2.3', '10gi', 'ten', '1e'])('rejects %j', (text) => {
    expect(() => parseQuantity(text)).toThrow(QuantityError);
  });

  it('property: binary suffixes scale integers exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.constantFrom(['Ki', 1024], ['Mi', 1024 ** 2], ['Gi', 1024 ** 3]), (n, [s, f]) => {
        expect(parseQuantity(`${n}${s as string}`)).toBe(n * (f as number));
      }),
    );
  }, 30_000);
});
