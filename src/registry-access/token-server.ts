// kcr's registry token service over HTTP(S): the `realm` the registry sends clients to.
//   GET  /token?service=…&scope=…&scope=…   Basic credentials (docker, skopeo, CRI-O, kubelets)
//   POST /token  grant_type=password form   (containerd tries this first, then falls back to GET)
// It answers `{token, access_token, expires_in, issued_at}`. Wrong credentials get 401; none
// get a token with no access (the registry then refuses the request, as the token spec says).
// The server holds only its keys: no Kubernetes API access, nothing stored.
import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../log.ts';
import { identify, type Credential, type RegistryIdentity } from './registry-identity.ts';
import { parseScopes, type ScopeAccess } from './registry-scope.ts';
import { grantedAccess } from './token-grant.ts';
import { signRegistryToken } from './registry-token.ts';
import type { TokenKeys } from './token-keys.ts';
import { listen } from '../net/listen.ts';

export interface TokenServiceSettings {
  issuer: string;
  /** The registry's `auth.token.service`; a request naming another service is refused. */
  service: string;
  prefix: string;
  ttlSeconds: number;
  rotationSeconds: number;
}

export interface TokenServerDeps {
  keys: TokenKeys;
  settings: TokenServiceSettings;
  logger: Logger;
  now?: () => Date;
}

const MAX_FORM_BYTES = 16 * 1024;

export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
  identity?: RegistryIdentity;
  granted?: ScopeAccess[];
}

/** The answer to one token request (already parsed): pure but for the token's signature and id. */
export function answerTokenRequest(deps: TokenServerDeps, credential: Credential | undefined, service: string | undefined, scopes: readonly string[]): TokenAnswer {
  const { keys, settings } = deps;
  const now = (deps.now ?? (() => new Date()))();
  if (service !== undefined && service !== settings.service) {
    return { status: 400, body: errors('DENIED', `this token service serves ${settings.service}, not ${service}`) };
  }
  let identity: RegistryIdentity | undefined;
  if (credential !== undefined) {
    identity = identify(keys.credentialKey, credential, now, settings.rotationSeconds);
    if (identity === undefined) return { status: 401, body: errors('UNAUTHORIZED', 'unknown user, or a wrong or expired password') };
  }
  const granted = grantedAccess(identity, parseScopes(scopes), settings.prefix);
  const token = signRegistryToken({
    issuer: settings.issuer,
    service: settings.service,
    subject: credential?.username ?? '',
    access: granted,
    now,
    ttlSeconds: settings.ttlSeconds,
  }, keys.signing);
  const body = { token, access_token: token, expires_in: settings.ttlSeconds, issued_at: now.toISOString() };
  return { status: 200, body, ...(identity ? { identity } : {}), granted };
}

function errors(code: string, message: string): Record<string, unknown> {
  return { errors: [{ code, message }] };
}

function basicCredential(header: string | undefined): Credential | undefined | 'malformed' {
  if (header === undefined) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return 'malformed';
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon <= 0 ? 'malformed' : { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams | undefined> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export function tokenRequestListener(deps: TokenServerDeps): http.RequestListener {
  const send = (res: http.ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}) =>
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...extra }).end(JSON.stringify(body));
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    if (url.pathname === '/healthz' || url.pathname === '/livez' || url.pathname === '/readyz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (url.pathname !== '/token') return send(res, 404, errors('NOT_FOUND', 'no such path'));
    const handle = async () => {
      let credential: Credential | undefined;
      let service = url.searchParams.get('service') ?? undefined;
      let scopes = url.searchParams.getAll('scope');
      if (req.method === 'GET') {
        const basic = basicCredential(req.headers.authorization);
        if (basic === 'malformed') return send(res, 401, errors('UNAUTHORIZED', 'Authorization must be Basic <base64 user:password>'), { 'www-authenticate': 'Basic realm="kcr"' });
        credential = basic;
      } else if (req.method === 'POST') {
        const form = await readForm(req);
        if (form === undefined) return send(res, 413, errors('SIZE_INVALID', `form larger than ${MAX_FORM_BYTES} bytes`));
        // Only the password grant: kcr issues no refresh tokens, so containerd falls back to GET.
        if (form.get('grant_type') !== 'password') return send(res, 400, errors('UNSUPPORTED', 'only grant_type=password'));
        const username = form.get('username');
        const password = form.get('password');
        if (!username || password === null) return send(res, 400, errors('UNSUPPORTED', 'username and password are required'));
        credential = { username, password };
        service = form.get('service') ?? service;
        scopes = form.getAll('scope').length > 0 ? form.getAll('scope') : scopes;
      } else {
        return send(res, 405, errors('UNSUPPORTED', 'GET or POST'), { allow: 'GET, POST' });
      }
      const answer = answerTokenRequest(deps, credential, service, scopes);
      const who = answer.identity?.kind === 'namespace-puller' ? { puller: answer.identity.namespace } : answer.identity?.kind === 'writer' ? { writer: true } : {};
      if (answer.status === 200) {
        deps.logger.debug({ ...who, scopes, granted: answer.granted?.map((g) => `${g.type}:${g.name}:${g.actions.join(',')}`) }, 'registry token issued');
      } else {
        deps.logger.info({ username: credential?.username, status: answer.status, scopes }, 'registry token refused');
      }
      send(res, answer.status, answer.body, answer.status === 401 ? { 'www-authenticate': 'Basic realm="kcr"' } : {});
    };
    handle().catch((err: unknown) => {
      deps.logger.error({ err }, 'token request failed');
      if (!res.headersSent) send(res, 500, errors('UNKNOWN', 'internal error'));
    });
  };
}

export interface TokenServerTls {
  cert: string;
  key: string;
}

export async function startTokenServer(deps: TokenServerDeps, host: string, port: number, tls?: TokenServerTls): Promise<http.Server> {
  const listener = tokenRequestListener(deps);
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, listener) : http.createServer(listener);
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  await listen(server, host, port);
  return server;
}

