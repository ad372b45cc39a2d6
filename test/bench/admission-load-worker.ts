// scale.bench.ts's admission client, in a worker thread: AdmissionReviews for CREATE of bench
// pods, sent at `rps` to the webhook's /mutate over HTTPS (keep-alive) until the main thread says
// stop; then it posts each request's latency. Its own event loop does nothing else, so what it
// measures is the webhook's answer time plus the network, not the bench's churn work.
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { nsName, podBody } from './scale-objects.ts';

const { url, rps, namespaces, pods } = workerData as { url: string; rps: number; namespaces: number; pods: number };
let stopped = false;
parentPort!.on('message', (m) => {
  if (m === 'stop') stopped = true;
});

const agent = new https.Agent({ keepAlive: true, maxSockets: 64, rejectUnauthorized: false });
const target = new URL(url);
const results: { ms: number; ok: boolean }[] = [];

function send(i: number): Promise<void> {
  return new Promise((resolve) => {
    const ns = nsName(i % namespaces);
    // Named as a bench pod of that namespace: the decision looks up that identity's Checkpoints.
    const n = namespaces * Math.floor(i / namespaces) % Math.max(1, pods) + (i % namespaces);
    const base = podBody(n);
    const pod = { ...base, metadata: { ...base.metadata, namespace: ns, annotations: { 'kcr.io/restore': 'true' } } };
    const body = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: `bench-${i}`, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: ns, operation: 'CREATE', object: pod },
    });
    const started = performance.now();
    const req = https.request(target, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => {
        results.push({ ms: performance.now() - started, ok: res.statusCode === 200 });
        resolve();
      });
    });
    req.on('error', () => {
      results.push({ ms: performance.now() - started, ok: false });
      resolve();
    });
    req.end(body);
  });
}

const inFlight = new Set<Promise<void>>();
const intervalMs = 1000 / rps;
const t0 = performance.now();
for (let i = 0; !stopped; i++) {
  const wait = t0 + i * intervalMs - performance.now();
  // Yield at least once per request, so the stop message is seen.
  await sleep(Math.max(0, wait));
  const p = send(i).then(() => void inFlight.delete(p));
  inFlight.add(p);
}
await Promise.all(inFlight);
agent.destroy();
parentPort!.postMessage(results);
