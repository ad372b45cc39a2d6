// Errors talking to a registry, classified for the caller's retry decision: `transient` ones
// (unreachable, 5xx, 429, timeouts) may succeed later; permanent ones (auth refused, bad
// request, TLS verification failed) will not. Messages name the registry and repository,
// never credentials.

export type RegistryErrorKind =
  | 'unreachable' // connection refused/reset, DNS, timeout
  | 'tls' // certificate verification failed
  | 'unauthorized' // 401/403 after authenticating
  | 'server' // 5xx, 429, 408
  | 'rejected' // other 4xx
  | 'protocol' // a response the protocol does not allow (no Location, wrong digest)
  | 'source'; // the archive could not be read

export interface RegistryErrorInit {
  kind: RegistryErrorKind;
  registry: string;
  repository?: string | undefined;
  status?: number | undefined;
  cause?: unknown;
}

export class RegistryError extends Error {
  override name = 'RegistryError';
  readonly kind: RegistryErrorKind;
  readonly transient: boolean;
  readonly registry: string;
  readonly repository: string | undefined;
  readonly status: number | undefined;

  constructor(message: string, init: RegistryErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.transient = isTransientKind(init.kind);
    this.registry = init.registry;
    this.repository = init.repository;
    this.status = init.status;
  }
}

export function isTransientKind(kind: RegistryErrorKind): boolean {
  return kind === 'unreachable' || kind === 'server';
}

/** The error kind of a non-success HTTP status (after authentication was attempted). */
export function kindOfStatus(status: number): RegistryErrorKind {
  if (status === 401 || status === 403) return 'unauthorized';
  if (status >= 500 || status === 429 || status === 408) return 'server';
  return 'rejected';
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Classifies a socket/TLS error code from node:http(s). */
export function kindOfNetworkError(code: string | undefined): RegistryErrorKind {
  if (code === undefined) return 'unreachable';
  if (UNREACHABLE_CODES.has(code)) return 'unreachable';
  if (code.startsWith('ERR_TLS') || code.includes('CERT') || code.includes('SELF_SIGNED') || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') {
    return 'tls';
  }
  return 'unreachable';
}

/** `errors[].code: message` from a registry's JSON error body, if it has one (bounded). */
export function registryErrorDetail(body: string): string | undefined {
  try {
    const doc = JSON.parse(body) as { errors?: { code?: unknown; message?: unknown }[] };
    if (!Array.isArray(doc.errors) || doc.errors.length === 0) return undefined;
    return doc.errors
      .slice(0, 3)
      .map((e) => [e.code, e.message].filter((x) => typeof x === 'string').join(': '))
      .join('; ')
      .slice(0, 300);
  } catch {
    return undefined;
  }
}
