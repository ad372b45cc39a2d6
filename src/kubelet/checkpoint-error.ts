// A failed kubelet checkpoint call through the API server's node proxy. `status` is undefined
// when no HTTP answer came (network error, timeout); `fromApiServer` tells an answer of the API
// server itself (a Kubernetes Status: the caller lacks nodes/proxy, no such node) from one the
// kubelet sent through the proxy (no such container, the runtime failed, the kubelet refused the
// API server's own identity).

export interface KubeletCheckpointErrorInit {
  node: string;
  status?: number | undefined;
  fromApiServer?: boolean;
  /** The agent called the kubelet itself (not through the API server's node proxy). */
  direct?: boolean;
  /** A bounded excerpt of the answer's message. */
  detail?: string | undefined;
  /** Network error code (ECONNREFUSED, ETIMEDOUT, …) when no answer came. */
  code?: string | undefined;
  cause?: unknown;
}

export class KubeletCheckpointError extends Error {
  override name = 'KubeletCheckpointError';
  readonly node: string;
  readonly status: number | undefined;
  readonly fromApiServer: boolean;
  readonly direct: boolean;
  readonly detail: string | undefined;
  readonly code: string | undefined;

  constructor(message: string, init: KubeletCheckpointErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.node = init.node;
    this.status = init.status;
    this.fromApiServer = init.fromApiServer ?? false;
    this.direct = init.direct ?? false;
    this.detail = init.detail;
    this.code = init.code;
  }
}

const MAX_DETAIL = 500;

/**
 * The message of an error answer and whether the API server wrote it: the API server answers
 * with a JSON `Status` object, the kubelet with plain text.
 */
export function describeErrorBody(body: string): { fromApiServer: boolean; detail: string | undefined } {
  const text = body.trim();
  if (text.startsWith('{')) {
    try {
      const doc = JSON.parse(text) as { kind?: unknown; message?: unknown };
      if (doc.kind === 'Status') {
        return { fromApiServer: true, detail: typeof doc.message === 'string' ? doc.message.slice(0, MAX_DETAIL) : undefined };
      }
    } catch {
      // not JSON: the kubelet's text
    }
  }
  return { fromApiServer: false, detail: text === '' ? undefined : text.slice(0, MAX_DETAIL) };
}

/** `{"items":["<path>"]}` -> the archive path; undefined for anything else. */
export function parseCheckpointResponse(body: string): string | undefined {
  try {
    const doc = JSON.parse(body) as { items?: unknown };
    if (!Array.isArray(doc.items) || doc.items.length === 0) return undefined;
    const first: unknown = doc.items[0];
    return typeof first === 'string' && first !== '' ? first : undefined;
  } catch {
    return undefined;
  }
}
