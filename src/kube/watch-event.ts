// One line of a Kubernetes watch stream, parsed: an object event, a BOOKMARK (only a new
// resourceVersion), or an ERROR carrying a Status (410 Gone: the resourceVersion is too old, relist).
// Pure: the informer reads the stream line by line and hands each line here.

export type WatchEvent =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: Record<string, unknown>; resourceVersion: string | undefined }
  | { type: 'BOOKMARK'; resourceVersion: string | undefined }
  | { type: 'ERROR'; code: number | undefined; reason: string | undefined; message: string | undefined }
  /** Not JSON, or not an event: skipped (and logged by the caller). */
  | { type: 'invalid'; why: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The metadata.resourceVersion of an object, when it is a non-empty string. */
export function resourceVersionOf(obj: unknown): string | undefined {
  const m = isRecord(obj) ? obj.metadata : undefined;
  const rv = isRecord(m) ? m.resourceVersion : undefined;
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
}

export function parseWatchLine(line: string): WatchEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { type: 'invalid', why: 'not JSON' };
  }
  if (!isRecord(parsed) || typeof parsed.type !== 'string') return { type: 'invalid', why: 'no event type' };
  const object = parsed.object;
  switch (parsed.type) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED':
      if (!isRecord(object)) return { type: 'invalid', why: `${parsed.type} without an object` };
      return { type: parsed.type, object, resourceVersion: resourceVersionOf(object) };
    case 'BOOKMARK':
      return { type: 'BOOKMARK', resourceVersion: resourceVersionOf(object) };
    case 'ERROR': {
      const s = isRecord(object) ? object : {};
      return {
        type: 'ERROR',
        code: typeof s.code === 'number' ? s.code : undefined,
        reason: typeof s.reason === 'string' ? s.reason : undefined,
        message: typeof s.message === 'string' ? s.message : undefined,
      };
    }
    default:
      return { type: 'invalid', why: `unknown event type ${parsed.type}` };
  }
}
