// /livez (the queue worker's loop beats: liveness of heartbeat.ts) and /readyz (the worker is
// connected to Redis and running) for the DaemonSet's probes. Plain node:http: two routes need no framework.
import { createServer, type Server } from 'node:http';
import { serveHttp } from '../net/listen.ts';
import type { Liveness } from '../metrics/heartbeat.ts';

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(options: { port: number; host: string; ready: () => boolean; live?: () => Liveness }): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/livez') {
      const live = options.live?.() ?? { live: true, stale: [] };
      if (live.live) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      else res.writeHead(503, { 'content-type': 'text/plain' }).end(`not live: ${live.stale.map((s) => `${s.name} quiet for ${Math.round(s.quietMs / 1000)}s`).join(', ')}\n`);
    } else if (path === '/readyz') {
      const ok = options.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready: not connected to Redis\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  return serveHttp(server, options.host, options.port);
}
