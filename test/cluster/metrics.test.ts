// kcr's metrics end to end (written for the cluster run): on the e2e stack (webhook, controller
// and one agent per node as local processes, each serving KCR_METRICS_PORT on 127.0.0.1 at the
// port the harness chose, kcr-stack.ts metricsPorts), a scheduled checkpoint, a replacement
// restored from it, a RestoreRequest and a retention deletion; then each component's metrics
// port is scraped and the metrics README "Metrics" lists must be there, with the right labels
// and non-zero counts. A schedule fires on its real cron: this file waits for a minute boundary.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, PLURALS, type Checkpoint } from '../../src/api/types.ts';
import { eventually } from './cluster-clients.ts';
import { openE2eWorld } from './e2e-stack.ts';
import { newestFirst, ready, restoredFromOf, type E2eWorld } from './e2e-world.ts';
import { metricSum } from './kcr-in-cluster.ts';

const EVERY_MINUTE = '* * * * *';

let w: E2eWorld;
let e2e: Awaited<ReturnType<typeof openE2eWorld>> | undefined;

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET 127.0.0.1:${port}${path}: timeout`)));
    req.on('error', reject);
    req.end();
  });
}

/** The metrics ports of the stack's processes whose names start with `prefix` (webhook, controller-, agent-). */
function metricsPorts(prefix: string): Array<[string, number]> {
  const ports = Object.entries(w.stack.metricsPorts ?? {}).filter(([name]) => name.startsWith(prefix));
  if (ports.length === 0) throw new Error(`the stack recorded no metrics port for ${prefix}* (kcr-stack.ts metricsPorts: ${JSON.stringify(w.stack.metricsPorts)})`);
  return ports;
}

/** /metrics of every process of a component, scraped now. */
async function scrape(prefix: string): Promise<string[]> {
  return Promise.all(metricsPorts(prefix).map(async ([name, port]) => {
    const res = await get(port, '/metrics');
    if (res.status !== 200) throw new Error(`${name}: GET /metrics answered ${res.status}`);
    return res.body;
  }));
}

/** A metric summed over a component's processes. */
const total = (texts: string[], name: string, labels: Record<string, string> = {}) => texts.reduce((sum, t) => sum + metricSum(t, name, labels), 0);
/** Whether any process exposes a series of `name` (any labels). */
const present = (texts: string[], name: string) => texts.some((t) => new RegExp(`^${name}(\\{| )`, 'm').test(t));

/** Waits until the component's scrape satisfies `check` (counters move within a controller pass or a scrape interval). */
async function scrapeUntil(prefix: string, what: string, check: (texts: string[]) => boolean, timeoutMs = 60_000): Promise<string[]> {
  return eventually(`${prefix} metrics: ${what}`, async () => {
    const texts = await scrape(prefix);
    return check(texts) ? texts : undefined;
  }, timeoutMs, 500);
}

let scheduled: Checkpoint;

beforeAll(async () => {
  e2e = await openE2eWorld('metrics');
  w = e2e.world;
  // A schedule firing each minute takes the checkpoint; its replacement is restored from it.
  await w.createStatefulSet('web', { cron: EVERY_MINUTE });
  const first = await w.runningPod('web-0');
  scheduled = await eventually('a scheduled Checkpoint of web-0', async () => (await w.checkpoints((cp) => ready(cp) && cp.spec.podUID === first.metadata!.uid)).sort(newestFirst)[0], 150_000, 500);
  await w.admin.core.deleteNamespacedPod({ name: 'web-0', namespace: w.ns });
  const replacement = await w.runningPod('web-0', first.metadata!.uid);
  if (restoredFromOf(replacement) === undefined) throw new Error('the replacement of web-0 was not restored: the restore metrics cannot show');
  // A RestoreRequest to the same pod.
  await w.createRestore('web-back', { podReference: { name: 'web-0' } });
  const { request } = await w.restoreFinished('web-back');
  if (request.status?.phase !== 'Completed') throw new Error(`RestoreRequest web-back: ${request.status?.phase}: ${request.status?.message}`);
  // Retention: a schedule that never fires, keeping one checkpoint per container, and two taken by hand.
  await w.admin.custom.createNamespacedCustomObject({
    ...w.custom(PLURALS.CheckpointSchedule),
    body: { apiVersion: API_VERSION, kind: 'CheckpointSchedule', metadata: { name: 'keep-one' }, spec: { schedule: '0 0 1 1 *', selector: { matchLabels: { app: 'cache' } }, retention: { maxCheckpointsPerContainer: 1 } } },
  });
  await w.createStatefulSet('cache', { cron: '0 0 1 1 *' });
  await w.runningPod('cache-0');
  const older = await w.checkpointNow('cache-1', 'cache-0', 'keep-one');
  await w.checkpointNow('cache-2', 'cache-0', 'keep-one');
  await eventually('retention to delete the older cache checkpoint', async () => ((await w.checkpoint(older.metadata.name!)) === undefined ? true : undefined), 60_000, 500);
}, 900_000);

afterAll(async () => {
  await e2e?.close();
});

describe('metrics of every component, on its own metrics port', () => {
  it('the agents: checkpoint durations by outcome, archive sizes, bytes pushed, no job left in flight, Redis up', async () => {
    const texts = await scrapeUntil('agent-', 'no job in flight', (t) => total(t, 'kcr_jobs_in_flight') === 0);
    expect(total(texts, 'kcr_checkpoint_duration_seconds_count', { outcome: 'completed' })).toBeGreaterThanOrEqual(3);
    expect(total(texts, 'kcr_checkpoint_duration_seconds_bucket', { outcome: 'completed', le: '+Inf' })).toBe(total(texts, 'kcr_checkpoint_duration_seconds_count', { outcome: 'completed' }));
    expect(total(texts, 'kcr_checkpoint_archive_bytes_count')).toBeGreaterThanOrEqual(3);
    expect(total(texts, 'kcr_checkpoint_archive_bytes_sum')).toBeGreaterThanOrEqual(Number(scheduled.spec.sizeBytes));
    expect(total(texts, 'kcr_push_bytes_total')).toBeGreaterThan(0);
    for (const t of texts) expect(metricSum(t, 'kcr_redis_up')).toBe(1);
    for (const t of texts) expect(t).toMatch(/^process_resident_memory_bytes \d/m);
    expect(texts.some((t) => t.includes('# TYPE kcr_registry_errors_total counter'))).toBe(true);
  });

  it('the controller: one leader, fires and their lateness, restores by kind, Checkpoints by phase, retention deletions, node queue jobs, Redis up', async () => {
    const texts = await scrapeUntil('controller-', 'the replacement and the RestoreRequest counted', (t) =>
      total(t, 'kcr_restores_total', { kind: 'replacement', outcome: 'restored' }) >= 1 && total(t, 'kcr_restores_total', { kind: 'restore-request', outcome: 'restored' }) >= 1);
    expect(total(texts, 'kcr_leader')).toBe(1);
    expect(total(texts, 'kcr_redis_up')).toBe(texts.length);
    expect(total(texts, 'kcr_schedule_fires_total', { outcome: 'fired' })).toBeGreaterThanOrEqual(1);
    expect(total(texts, 'kcr_schedule_fire_lateness_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(total(texts, 'kcr_restores_total', { kind: 'replacement', outcome: 'restored', reason: 'Running' })).toBeGreaterThanOrEqual(1);
    expect(total(texts, 'kcr_retention_deletions_total', { reason: 'count' })).toBeGreaterThanOrEqual(1);
    expect(total(texts, 'kcr_schedules_overdue')).toBe(0);
    // Registered even before any happened (their HELP and TYPE lines are there).
    expect(present(texts, 'kcr_bad_checkpoints_total') || texts.some((t) => t.includes('# TYPE kcr_bad_checkpoints_total counter'))).toBe(true);
    // The leader's cache: every Checkpoint of this namespace is ImageBuilt by now.
    expect(Math.max(...texts.map((t) => metricSum(t, 'kcr_checkpoints', { phase: 'ImageBuilt' })))).toBeGreaterThanOrEqual(2);
    // Node queues, read at most every 15 s: the agents' finished jobs are kept (KCR_JOBS_KEEP_COMPLETED).
    const node = scheduled.spec.nodeName!;
    const queues = await scrapeUntil('controller-', `completed jobs on ${node}'s queue`, (t) => total(t, 'kcr_queue_jobs', { node, state: 'completed' }) >= 1, 45_000);
    for (const n of w.stack.nodes) expect(queues.some((t) => new RegExp(`^kcr_queue_jobs\\{node="${n.name}",state="waiting"\\} \\d+$`, 'm').test(t))).toBe(true);
  });

  it('the webhook: admissions restored and unchanged by reason, latency buckets up to 3 s, ready', async () => {
    const texts = await scrape('webhook');
    expect(total(texts, 'kcr_webhook_admissions_total', { outcome: 'patched', reason: 'restored' })).toBeGreaterThanOrEqual(2);
    expect(total(texts, 'kcr_webhook_admissions_total', { outcome: 'unchanged' })).toBeGreaterThanOrEqual(1);
    expect(total(texts, 'kcr_webhook_admission_duration_seconds_bucket', { outcome: 'patched', le: '3' })).toBeGreaterThanOrEqual(2);
    expect(total(texts, 'kcr_webhook_ready')).toBe(texts.length);
    expect(total(texts, 'kcr_webhook_index_objects', { kind: 'Checkpoint' })).toBeGreaterThanOrEqual(1);
  });

  it('/livez of the controller and the agents is 200 while their loops run', async () => {
    for (const [name, port] of Object.entries(w.stack.healthPorts)) {
      const res = await get(port, '/livez');
      expect(res.status, `${name}: ${res.body}`).toBe(200);
    }
  });
});
