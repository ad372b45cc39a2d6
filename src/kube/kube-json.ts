// Plain-JSON calls against the API server (controller, webhook claims): objects stay in their wire form
// (timestamps as strings, MicroTime with microseconds as the API server writes it), the same form
// the informers deliver. Non-2xx throws KubeApiError, so callers branch on `.code`.
import http from 'node:http';
import https from 'node:https';
import { KubeApiError } from './api-error.ts';
import type { ClusterAccess } from './cluster-access.ts';
import { readBoundedBody } from '../net/bounded-body.ts';

const MAX_BODY = 16 * 1024 * 1024;

export type PatchType = 'merge' | 'json' | 'strategic';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

export interface KubeJson {
  get<T>(path: string): Promise<T>;
  create<T>(path: string, body: unknown): Promise<T>;
  replace<T>(path: string, body: unknown): Promise<T>;
  patch<T>(path: string, body: unknown, type?: PatchType): Promise<T>;
  delete(path: string, body?: unknown): Promise<void>;
}

export function kubeJson(kc: ClusterAccess, options: { timeoutMs?: number } = {}): KubeJson {
  const timeoutMs = options.timeoutMs ?? 15_000;
  // KubeConfig's applyToHTTPSOptions makes a new Agent on every call, hence a new TLS connection
  // per request; one keep-alive agent per TLS identity keeps connections to the API server open.
  let agent: https.Agent | undefined;
  let agentKey: string | undefined;
  const keepAliveAgent = (opts: https.RequestOptions): https.Agent => {
    const key = JSON.stringify([String(opts.ca ?? ''), String(opts.cert ?? ''), String(opts.key ?? ''), opts.rejectUnauthorized, opts.servername]);
    if (agent === undefined || key !== agentKey) {
      agent?.destroy();
      agent = new https.Agent({ keepAlive: true, ca: opts.ca, cert: opts.cert, key: opts.key, ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}), ...(opts.servername ? { servername: opts.servername } : {}) });
      agentKey = key;
    }
    return agent;
  };
  async function call<T>(method: string, path: string, body: unknown, contentType = 'application/json'): Promise<T> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('no current cluster in the kubeconfig');
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const opts: https.RequestOptions = {
      method,
      headers: {
        Accept: 'application/json',
        ...(payload ? { 'Content-Type': contentType, 'Content-Length': String(payload.length) } : {}),
      },
      timeout: timeoutMs,
    };
    await kc.applyToHTTPSOptions(opts);
    const transport = url.protocol === 'http:' ? http : https;
    if (url.protocol === 'https:') opts.agent = keepAliveAgent(opts);
    return new Promise<T>((resolve, reject) => {
      const req = transport.request(url, opts, (res) => {
        readBoundedBody(res, MAX_BODY, (text) => {
          const status = res.statusCode ?? 0;
          let parsed: unknown = text;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          if (status < 200 || status >= 300) {
            const message = (parsed as { message?: unknown } | undefined)?.message;
            reject(new KubeApiError(status, `${method} ${path}: HTTP ${status}${typeof message === 'string' ? `: ${message}` : ''}`,
              parsed, res.headers as Record<string, string>));
            return;
          }
          resolve(parsed as T);
        }, reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }
  return {
    get: (path) => call('GET', path, undefined),
    create: (path, body) => call('POST', path, body),
    replace: (path, body) => call('PUT', path, body),
    patch: (path, body, type = 'merge') => call('PATCH', path, body, PATCH_CONTENT_TYPES[type]),
    delete: async (path, body) => {
      await call('DELETE', path, body);
    },
  };
}

export { apiCode } from './api-error.ts';
