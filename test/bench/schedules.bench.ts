// npm run bench:schedules — the scheduling core against a real redis-server it starts itself:
//  1. 10,000 schedules reconciled into BullMQ job schedulers (seconds);
//  2. a no-change reconcile of all of them: Redis write commands (INFO commandstats, including
//     commands run by Lua scripts) and dirty keys, both expected to be 0;
//  3. 1,000 of them firing every minute: lateness of each fire (onFire time minus the slot) over
//     one full minute's slot, p50/p99/max.
// Last line: RESULT upsert_10k_s=… noop_writes=… p99_lateness_ms=…
import { loadavg } from 'node:os';
import { API_VERSION, type CheckpointSchedule } from '../../src/api/types.ts';
import { createRedisConnection, waitForReady } from '../../src/queue/connection.ts';
import { readWriteStats, writesBetween } from '../../src/queue/redis-write-stats.ts';
import { createScheduleWorker } from '../../src/queue/schedule-worker.ts';
import { createScheduleQueue, SchedulerStore } from '../../src/queue/scheduler-store.ts';
import { closeWithDeadline } from '../../src/queue/shutdown.ts';
import { desiredSchedulers } from '../../src/schedule/desired.ts';
import { startRedis } from '../support/redis.ts';

const TOTAL = Number(process.env.KCR_BENCH_SCHEDULES ?? 10_000);
const FIRING = Number(process.env.KCR_BENCH_FIRING ?? 1_000);
// BullMQ fetches `concurrency` jobs one after the other before it starts the first: a moderate
// value starts work sooner than a huge one.
const WORKER_CONCURRENCY = Number(process.env.KCR_BENCH_CONCURRENCY ?? 30);
// Schedule workers, each with its own connection: as the two controller replicas would run them
// (BullMQ hands each fired job to one of them; job ids make a repeat harmless).
const WORKERS = Number(process.env.KCR_BENCH_WORKERS ?? 2);
const PREFIX = 'kcr';

function schedule(i: number): CheckpointSchedule {
  // The first FIRING schedules fire every minute; the others daily at varied times and zones
  // (the few of them that fire during the run are not counted).
  const firing = i < FIRING;
  return {
    apiVersion: API_VERSION,
    kind: 'CheckpointSchedule',
    metadata: { name: `s-${i}`, namespace: `ns-${i % 100}`, uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` },
    spec: {
      schedule: firing ? '* * * * *' : `${i % 60} ${Math.floor(i / 60) % 24} * * *`,
      ...(i % 3 === 0 ? { timeZone: ['Europe/Berlin', 'America/New_York', 'Asia/Tokyo'][i % 9 === 0 ? 0 : i % 9 === 3 ? 1 : 2]! } : {}),
      selector: { matchLabels: { app: `app-${i}` } },
    },
  };
}

async function redisCpuMs(client: { info(section: string): Promise<string> }): Promise<number> {
  const info = await client.info('cpu');
  const get = (k: string) => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (get('used_cpu_user') + get('used_cpu_sys')) * 1000;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const conn = createRedisConnection(redis.url, 'worker');
  const queue = createScheduleQueue(conn, PREFIX);
  try {
    await waitForReady(conn, 5000);
    const store = new SchedulerStore({ queue, client: conn, prefix: PREFIX, concurrency: 256 });
    const crs = Array.from({ length: TOTAL }, (_, i) => schedule(i));
    const { schedulers, errors } = desiredSchedulers(crs, []);
    if (errors.length > 0 || schedulers.length !== TOTAL) throw new Error(`desired set wrong: ${schedulers.length}, ${errors.length} errors`);

    // 1. Upsert all.
    let cpu0 = { node: process.cpuUsage(), redis: await redisCpuMs(conn) };
    let t = performance.now();
    const first = await store.reconcile(schedulers);
    const upsertS = (performance.now() - t) / 1000;
    const cpuLine = (label: string) => {
      const node = process.cpuUsage(cpu0.node);
      return redisCpuMs(conn).then((r) =>
        console.log(`  cpu for ${label}: node ${((node.user + node.system) / 1000).toFixed(0)} ms, redis-server ${(r - cpu0.redis).toFixed(0)} ms (load average ${loadavg()[0]!.toFixed(1)})`),
      );
    };
    if (first.failed.length > 0 || first.upserted !== TOTAL) throw new Error(`upsert: ${JSON.stringify({ ...first, failed: first.failed.length })}`);
    const count = await queue.getJobSchedulersCount();
    console.log(`upsert: ${TOTAL} schedulers in ${upsertS.toFixed(2)} s (${Math.round(TOTAL / upsertS)}/s); Redis holds ${count}`);
    await cpuLine('the upsert');

    // 2. No-change reconcile.
    const before = await readWriteStats(conn);
    cpu0 = { node: process.cpuUsage(), redis: await redisCpuMs(conn) };
    t = performance.now();
    const noop = await store.reconcile(desiredSchedulers(crs, []).schedulers);
    const noopS = (performance.now() - t) / 1000;
    await cpuLine('the no-change reconcile');
    const writes = writesBetween(before, await readWriteStats(conn));
    console.log(
      `no-change reconcile: ${noopS.toFixed(2)} s, upserted=${noop.upserted} removed=${noop.removed} unchanged=${noop.unchanged}; ` +
        `write commands=${writes.total} ${JSON.stringify(writes.byCommand)}, dirty keys=${writes.dirty}`,
    );

    // 3. Firing lateness.
    const fires = new Map<number, number[]>();
    const onFire = async (ref: { name: string }, fireTime: Date) => {
      if (Number(ref.name.slice(2)) >= FIRING) return;
      const late = Date.now() - fireTime.getTime();
      const slot = fireTime.getTime();
      const list = fires.get(slot);
      if (list) list.push(late);
      else fires.set(slot, [late]);
    };
    const workerConns = Array.from({ length: WORKERS }, () => createRedisConnection(redis.url, 'worker'));
    const workers = workerConns.map((connection) =>
      createScheduleWorker({ connection, prefix: PREFIX, concurrency: WORKER_CONCURRENCY, onFire }),
    );
    for (const w of workers) {
      w.on('error', (err) => console.error('worker error:', err.message));
      await w.waitUntilReady();
    }
    // The first minute boundary at least 10 s after the workers are up (the setup's own work is
    // over by then): every firing scheduler has a job for it.
    const slot = Math.ceil((Date.now() + 10_000) / 60_000) * 60_000;
    console.log(`firing: ${FIRING} schedules every minute, ${WORKERS} worker(s) of concurrency ${WORKER_CONCURRENCY}; measuring slot ${new Date(slot).toISOString()} (in ${((slot - Date.now()) / 1000).toFixed(0)} s)`);
    // Baseline for a busy machine: how late a plain timer set for the same slot runs, and the
    // event-loop lag while the slot is worked off (neither involves Redis).
    let timerLate = NaN;
    setTimeout(() => (timerLate = Date.now() - slot), slot - Date.now());
    const lags: number[] = [];
    let tick = performance.now();
    const probe = setInterval(() => {
      const t2 = performance.now();
      if (Date.now() >= slot) lags.push(Math.max(0, t2 - tick - 10));
      tick = t2;
    }, 10);
    // CPU spent by this process and by Redis on the slot: the load-independent cost of firing.
    let cpuAtSlot: { node: NodeJS.CpuUsage; redis: number } | undefined;
    setTimeout(async () => {
      cpuAtSlot = { node: process.cpuUsage(), redis: await redisCpuMs(conn) };
    }, slot - Date.now() - 50);
    const deadline = slot + 60_000;
    let lastReport = 0;
    while ((fires.get(slot)?.length ?? 0) < FIRING && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        console.log(`  … ${Math.max(0, Math.round((slot - Date.now()) / 1000))} s to the slot, ${fires.get(slot)?.length ?? 0}/${FIRING} fired`);
      }
    }
    clearInterval(probe);
    if (cpuAtSlot) {
      const node = process.cpuUsage(cpuAtSlot.node);
      const redisMs = (await redisCpuMs(conn)) - cpuAtSlot.redis;
      console.log(`cpu for the slot's ${FIRING} fires: node ${((node.user + node.system) / 1000).toFixed(0)} ms, redis-server ${redisMs.toFixed(0)} ms`);
    }
    lags.sort((a, b) => a - b);
    const load = loadavg()[0]!.toFixed(1);
    console.log(
      `machine: load average ${load}; a bare timer for the slot ran ${timerLate} ms late; event-loop lag while firing p99=${percentile(lags, 99).toFixed(0)} ms`,
    );
    const lateness = [...(fires.get(slot) ?? [])].sort((a, b) => a - b);
    const missing = FIRING - lateness.length;
    const p50 = percentile(lateness, 50);
    const p99 = missing > 0 ? Infinity : percentile(lateness, 99);
    console.log(
      `lateness over ${lateness.length}/${FIRING} fires of one slot: min=${lateness[0]} ms p50=${p50} ms p99=${p99} ms max=${lateness.at(-1)} ms` +
        (missing > 0 ? ` (${missing} did not fire within a minute)` : ''),
    );
    await Promise.all(workers.map((w, i) => closeWithDeadline(w, 5000, () => workerConns[i]!.disconnect())));
    for (const c of workerConns) c.disconnect();

    console.log(`RESULT upsert_10k_s=${upsertS.toFixed(2)} noop_writes=${writes.total} p99_lateness_ms=${p99}`);
  } finally {
    await queue.close().catch(() => undefined);
    conn.disconnect();
    await redis.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
