// The simulated kubelet's HTTPS endpoint, answering as the kubelet does:
//   POST /checkpoint/{namespace}/{pod}/{container}?timeout=<seconds>
//     200 {"items":["<dir>/checkpoint-<pod>_<ns>-<container>-<RFC3339>.tar"]}
//     404 "pod does not exist" | "container X does not exist" | "cannot parse value of timeout parameter"
//     500 "checkpointing of ns/pod/container failed (<reason>)"
//   GET  /state/{namespace}/{pod}/{container}  -> the sample app's state (JSON)   [sim only]
//   GET  /pods                                 -> the pods this node runs (PodList)
//   GET  /healthz                              -> ok
// Every request is authenticated (client certificate or bearer token) and authorized
// (nodes/<subresource>), 401/403 otherwise, before any handler runs.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../../src/log.ts';
import type { AppState } from './app-state.ts';
import {
  certificateUser,
  forbiddenMessage,
  kubeletRequestAttributes,
  type KubeletAuthorizer,
  type KubeletUser,
  type TokenAuthenticator,
} from './kubelet-auth.ts';

export type CheckpointOutcome =
  | { kind: 'ok'; path: string }
  | { kind: 'no-pod' }
  | { kind: 'no-container' }
  | { kind: 'failed'; reason: string };

export type StateOutcome = { kind: 'ok'; state: AppState } | { kind: 'no-pod' } | { kind: 'no-container' } | { kind: 'not-running'; reason: string };

export interface KubeletHandlers {
  /** Does the pod, and the container in its spec, exist on this node? */
  find(namespace: string, pod: string, container: string): 'ok' | 'no-pod' | 'no-container';
  checkpoint(namespace: string, pod: string, container: string, timeoutSeconds: number): Promise<CheckpointOutcome>;
  state(namespace: string, pod: string, container: string): StateOutcome;
  pods(): unknown;
}

export interface KubeletServerOptions {
  nodeName: string;
  host: string;
  port: number;
  tls: { cert: string; key: string; clientCa: string };
  authorizer: KubeletAuthorizer;
  tokenAuthenticator?: TokenAuthenticator;
  handlers: KubeletHandlers;
  logger: Logger;
}

export interface KubeletServer {
  port: number;
  close(): Promise<void>;
}

/** Parses the kubelet's ?timeout= the way strconv.ParseInt does (last value wins); undefined when unparsable. */
export function parseTimeoutParam(values: string[]): number | undefined {
  if (values.length === 0) return 0;
  const v = values[values.length - 1]!;
  if (!/^[+-]?\d+$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

export async function startKubeletServer(opts: KubeletServerOptions): Promise<KubeletServer> {
  const log = opts.logger;

  async function authenticate(req: IncomingMessage): Promise<KubeletUser | undefined> {
    const sock = req.socket as TLSSocket;
    if (sock.authorized) {
      const u = certificateUser(sock.getPeerCertificate());
      if (u) return u;
    }
    const h = req.headers.authorization;
    if (h?.startsWith('Bearer ') && opts.tokenAuthenticator) return opts.tokenAuthenticator(h.slice(7).trim());
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const path = url.pathname;
    let user: KubeletUser | undefined;
    try {
      user = await authenticate(req);
    } catch (err) {
      log.error({ err }, 'unable to authenticate the request');
      return text(res, 401, 'Unauthorized');
    }
    if (!user) return text(res, 401, 'Unauthorized');
    const attrs = kubeletRequestAttributes(req.method ?? 'GET', path, opts.nodeName);
    let allowed: boolean;
    try {
      allowed = await opts.authorizer.authorize(user, attrs);
    } catch (err) {
      log.error({ err, user: user.name }, 'authorization error');
      return text(res, 500, `Authorization error (user=${user.name}, verb=${attrs.verb}, resource=${attrs.resource}, subresource=${attrs.subresource})`);
    }
    if (!allowed) return text(res, 403, forbiddenMessage(user, attrs));

    const parts = path.split('/').slice(1).map(decodeURIComponent);
    if (parts[0] === 'checkpoint') {
      if (req.method !== 'POST') return text(res, 405, 'Method Not Allowed');
      if (parts.length !== 4 || parts.some((p) => p === '')) return text(res, 404, '404 page not found');
      const [, ns, pod, container] = parts as [string, string, string, string];
      // The kubelet looks the pod and container up before it parses the timeout.
      const found = opts.handlers.find(ns, pod, container);
      if (found === 'no-pod') return text(res, 404, 'pod does not exist');
      if (found === 'no-container') return text(res, 404, `container ${container} does not exist`);
      const timeout = parseTimeoutParam(url.searchParams.getAll('timeout'));
      if (timeout === undefined) return text(res, 404, 'cannot parse value of timeout parameter');
      const outcome = await opts.handlers.checkpoint(ns, pod, container, timeout);
      if (outcome.kind === 'no-pod') return text(res, 404, 'pod does not exist');
      if (outcome.kind === 'no-container') return text(res, 404, `container ${container} does not exist`);
      if (outcome.kind === 'failed') return text(res, 500, `checkpointing of ${ns}/${pod}/${container} failed (${outcome.reason})`);
      log.info({ namespace: ns, pod, container, path: outcome.path, user: user.name }, 'checkpoint written');
      return json(res, 200, { items: [outcome.path] });
    }
    if (parts[0] === 'state' && req.method === 'GET') {
      if (parts.length !== 4) return text(res, 404, '404 page not found');
      const [, ns, pod, container] = parts as [string, string, string, string];
      const s = opts.handlers.state(ns, pod, container);
      if (s.kind === 'no-pod') return text(res, 404, 'pod does not exist');
      if (s.kind === 'no-container') return text(res, 404, `container ${container} does not exist`);
      if (s.kind === 'not-running') return text(res, 409, `container ${container} is not running: ${s.reason}`);
      return json(res, 200, s.state);
    }
    if (path === '/pods' && req.method === 'GET') return json(res, 200, opts.handlers.pods());
    if (path === '/healthz') return text(res, 200, 'ok');
    return text(res, 404, '404 page not found');
  }

  const server: Server = createServer(
    { cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.clientCa, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        log.error({ err }, 'kubelet request failed');
        if (!res.headersSent) text(res, 500, 'Internal Server Error');
        else res.destroy();
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
