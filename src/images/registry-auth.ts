// Authentication with one registry: nothing until the registry asks (401), then Basic with the
// configured credentials, or the Bearer token flow: GET <realm>?service=…&scope=… with the
// credentials (Basic) -> token, cached per scope until it expires.
// Credentials stay in this object: never logged, never in messages.
import type { RegistryCredentials } from './docker-config.ts';
import type { HttpTransport } from './http-transport.ts';
import { RegistryError, kindOfNetworkError, kindOfStatus } from './registry-error.ts';
import { parseWwwAuthenticate } from './www-authenticate.ts';

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Token lifetime when the token server does not say (distribution's spec: 60 s). */
const DEFAULT_TOKEN_SECONDS = 60;

export class RegistryAuth {
  readonly #registry: string;
  readonly #credentials: RegistryCredentials | undefined;
  readonly #transport: HttpTransport;
  readonly #now: () => number;
  #basic = false;
  readonly #tokens = new Map<string, CachedToken>();

  constructor(registry: string, credentials: RegistryCredentials | undefined, transport: HttpTransport, now: () => number = Date.now) {
    this.#registry = registry;
    this.#credentials = credentials;
    this.#transport = transport;
    this.#now = now;
  }

  /** The Authorization header for a request needing `scope`, if one is known. */
  headerFor(scope: string): string | undefined {
    // Renew a little early so a request does not race the expiry.
    const now = this.#now() + 5_000;
    for (const [granted, t] of this.#tokens) {
      if (t.expiresAt > now && scopeCovers(granted, scope)) return `Bearer ${t.token}`;
    }
    if (this.#basic && this.#credentials) return basicHeader(this.#credentials);
    return undefined;
  }

  /**
   * Answers a 401 challenge. Returns true when a retry now carries new authorization, false
   * when there is nothing new to try (then the 401 is final).
   */
  async answer(wwwAuthenticate: string | undefined, scope: string, repository: string | undefined): Promise<boolean> {
    const challenges = parseWwwAuthenticate(wwwAuthenticate ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer && bearer.params.realm) {
      const token = await this.#fetchToken(bearer.params.realm, bearer.params.service, bearer.params.scope ?? scope, repository);
      this.#tokens.set(scope, token);
      return true;
    }
    if (challenges.some((c) => c.scheme === 'basic') && this.#credentials && !this.#basic) {
      this.#basic = true;
      return true;
    }
    return false;
  }

  async #fetchToken(realm: string, service: string | undefined, scope: string, repository: string | undefined): Promise<CachedToken> {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError(`registry ${this.#registry} sent a token realm that is not a URL`, {
        kind: 'protocol',
        registry: this.#registry,
        repository,
      });
    }
    if (service) url.searchParams.set('service', service);
    for (const s of scope.split(' ')) if (s) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#credentials) headers.authorization = basicHeader(this.#credentials);
    const started = this.#now();
    let res;
    try {
      res = await this.#transport({ method: 'GET', url: url.toString(), headers });
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new RegistryError(`token server ${url.host} for registry ${this.#registry} unreachable (${code ?? 'error'})`, {
        kind: kindOfNetworkError(code),
        registry: this.#registry,
        repository,
        cause: err,
      });
    }
    if (res.status !== 200) {
      const what = res.status === 401 || res.status === 403 ? 'refused the credentials' : `answered HTTP ${res.status}`;
      throw new RegistryError(
        `token server ${url.host} for registry ${this.#registry}${repository ? ` (repository ${repository})` : ''} ${what}`,
        { kind: kindOfStatus(res.status), registry: this.#registry, repository, status: res.status },
      );
    }
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(res.text) as typeof doc;
    } catch {
      doc = {};
    }
    const token = typeof doc.token === 'string' ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : undefined;
    if (!token) {
      throw new RegistryError(`token server ${url.host} for registry ${this.#registry} returned no token`, {
        kind: 'protocol',
        registry: this.#registry,
        repository,
      });
    }
    const seconds = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : DEFAULT_TOKEN_SECONDS;
    return { token, expiresAt: started + seconds * 1000 };
  }
}

/** `repository:a/b:pull,push` covers `repository:a/b:pull` (same resource, a superset of actions). */
export function scopeCovers(granted: string, wanted: string): boolean {
  if (granted === wanted) return true;
  const split = (s: string) => {
    const i = s.lastIndexOf(':');
    return { resource: s.slice(0, i), actions: new Set(s.slice(i + 1).split(',')) };
  };
  const g = split(granted);
  const w = split(wanted);
  return g.resource === w.resource && [...w.actions].every((a) => g.actions.has(a) || g.actions.has('*'));
}

function basicHeader(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}
