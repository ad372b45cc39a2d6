// A failed API call: its HTTP status as `.code`, the Status body the API server sent, and the
// response headers — the shape of client-node's ApiException, so one check (apiCode) reads both
// kcr's own calls and the agent's and controller's typed-client calls.
export class KubeApiError extends Error {
  readonly code: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;

  constructor(code: number, message: string, body: unknown, headers: Record<string, string>) {
    super(message);
    this.name = 'KubeApiError';
    this.code = code;
    this.body = body;
    this.headers = headers;
  }
}

/** The HTTP status of a failed API call (KubeApiError or client-node's ApiException), else undefined. */
export function apiCode(err: unknown): number | undefined {
  // Node's own errors carry string codes (ECONNREFUSED): a numeric one is an HTTP status.
  const code = (err as { code?: unknown } | undefined)?.code;
  return err instanceof Error && typeof code === 'number' ? code : undefined;
}
