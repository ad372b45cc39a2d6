// Kubernetes resource quantities ("10Gi", "500M", "1.5G", "1e9") to bytes, for maxTotalSize.

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, m: 1e-3 };

export class QuantityError extends Error {
  override name = 'QuantityError';
}

/**
 * Parses a quantity as Kubernetes writes it: a signed decimal number and a suffix (binary Ki..Ei,
 * decimal m/k/M/G/T/P/E, or an exponent e<n>/E<n>). Returns bytes rounded up to a whole byte.
 * Negative quantities are rejected: a size cap cannot be negative.
 */
export function parseQuantity(text: string): number {
  const m = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$/.exec(text);
  if (!m) throw new QuantityError(`${JSON.stringify(text)} is not a Kubernetes quantity (e.g. 500Mi, 10Gi, 1G)`);
  const [, sign, num, exp, suffix] = m;
  if (sign === '-' && Number(num) !== 0) throw new QuantityError(`${JSON.stringify(text)} is negative`);
  let value = Number(num);
  if (exp !== undefined) value *= 10 ** Number(exp.slice(1));
  else if (suffix !== undefined) value *= BINARY[suffix] ?? DECIMAL[suffix] ?? 1;
  if (!Number.isFinite(value)) throw new QuantityError(`${JSON.stringify(text)} is too large`);
  if (Number.isInteger(value)) return value;
  // 1.1 * 1e9 is 1100000000.0000002 in floating point: drop the noise before rounding up.
  return Math.ceil(Number(value.toPrecision(15)));
}
