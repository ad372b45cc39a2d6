// /livez and /readyz for the kubelet's probes. Live means: every main loop that should run beat
// within its bound (heartbeat.ts). Ready means: the informers delivered their initial lists and Redis answers. A standby replica is ready too (it serves nothing but must
// not be restarted); /readyz's body says why not, and who leads.
import http from 'node:http';
import { listen } from '../net/listen.ts';
import type { Liveness } from '../metrics/heartbeat.ts';

export interface HealthState {
  /** Reasons the controller is not ready; empty when ready. */
  notReady(): string[];
  leading(): boolean;
  /** Heartbeats of the main loops; absent: live while the process answers. */
  live?(): Liveness;
}

export async function startHealthServer(state: HealthState, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/livez' || path === '/healthz') {
      const live = state.live?.() ?? { live: true, stale: [] };
      if (live.live) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      else res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ live: false, stale: live.stale }));
      return;
    }
    if (path === '/readyz') {
      const reasons = state.notReady();
      const body = JSON.stringify({ ready: reasons.length === 0, leading: state.leading(), reasons });
      res.writeHead(reasons.length === 0 ? 200 : 503, { 'content-type': 'application/json' }).end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  await listen(server, host, port);
  return server;
}
