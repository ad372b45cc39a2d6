// Guards for untrusted JSON: admission objects and informer objects arrive as `unknown`
// and the decision must never throw on a shape it did not expect.

export type JsonRecord = Record<string, unknown>;

export function isRecord(v: unknown): v is JsonRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function record(v: unknown): JsonRecord {
  return isRecord(v) ? v : {};
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function array(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** A Record<string,string> keeping only string values (labels, annotations, nodeSelector). */
export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(v)) return out;
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

/**
 * Milliseconds since the epoch of a Kubernetes timestamp; informers from client-node
 * deliver Date objects for built-in kinds, custom resources carry RFC 3339 strings.
 */
export function timeMs(v: unknown): number | undefined {
  if (v instanceof Date) {
    const t = v.getTime();
    return Number.isNaN(t) ? undefined : t;
  }
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}
