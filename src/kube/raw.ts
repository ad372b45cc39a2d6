// Plain-JSON GETs against the API server. client-node's typed list calls turn
// timestamps into Date objects while watch events carry strings; informers that
// feed one index need both in the same (wire) form, so they list with this.
import http from 'node:http';
import https from 'node:https';
import { KubeApiError } from './api-error.ts';
import type { ClusterAccess } from './cluster-access.ts';

const MAX_ERROR_BODY = 64 * 1024;

/** GET path on the current cluster and parse the JSON body. Non-2xx throws KubeApiError with .code. */
export async function getJson<T = unknown>(kc: ClusterAccess, path: string, signal?: AbortSignal, accept = 'application/json'): Promise<T> {
  const res = await openStream(kc, path, signal, accept);
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', reject);
    res.on('end', resolve);
  });
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
  } catch (err) {
    throw new Error(`GET ${path}: response is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * GET path and hand over the response once the API server answered 2xx (a watch stream, read as
 * it comes). Non-2xx rejects with KubeApiError (.code, the Status body) after reading the error body.
 */
export async function openStream(kc: ClusterAccess, path: string, signal?: AbortSignal, accept = 'application/json'): Promise<http.IncomingMessage> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the kubeconfig');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  const opts: https.RequestOptions = { method: 'GET', headers: { Accept: accept } };
  await kc.applyToHTTPSOptions(opts);
  const transport = url.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { ...opts, ...(signal ? { signal } : {}) }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        resolve(res);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_ERROR_BODY) chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        const message = (body as { message?: unknown })?.message;
        reject(new KubeApiError(status, `GET ${path}: HTTP ${status}${typeof message === 'string' ? `: ${message}` : ''}`,
          body, res.headers as Record<string, string>));
      });
    });
    req.on('error', reject);
    req.end();
  });
}
