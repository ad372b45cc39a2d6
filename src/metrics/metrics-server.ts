// The plain-HTTP Prometheus endpoint every kcr component serves on KCR_METRICS_PORT, apart from
// its health port and the webhook's TLS listener, so a ServiceMonitor scrapes all three alike.
// One registry per component (passed in): tests build several side by side.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { serveHttp } from '../net/listen.ts';
import type { MetricsAccess } from './metrics-auth.ts';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  registry: Registry;
  host: string;
  port: number;
  /** A scrape whose collection throws answers 500 and is reported here (never crashes the process). */
  onError?: (err: unknown) => void;
  /** KCR_METRICS_AUTH=kubernetes: who may scrape (metrics-auth.ts); none: anyone who reaches the port. */
  authorize?: (authorization: string | undefined) => Promise<MetricsAccess>;
}

const REFUSED: Record<Exclude<MetricsAccess, 'allowed'>, [number, string]> = {
  unauthenticated: [401, 'a valid bearer token is required\n'],
  forbidden: [403, 'not allowed to get /metrics\n'],
  unavailable: [503, 'could not check the token with the API server\n'],
};

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const access = options.authorize ? options.authorize(req.headers.authorization) : Promise.resolve<MetricsAccess>('allowed');
    access.then(async (a) => {
      if (a !== 'allowed') {
        const [status, text] = REFUSED[a];
        res.writeHead(status, { 'content-type': 'text/plain', ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}) }).end(text);
        return;
      }
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType }).end(text);
    }).catch((err: unknown) => {
      options.onError?.(err);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
    });
  });
  return serveHttp(server, options.host, options.port);
}
