// The controller's metrics and liveness, against a real redis-server: startController (what
// `kcr controller` runs) with the API server as an in-memory fake and fake informer sources (a
// real API server is the cluster test's, test/cluster/metrics.test.ts). Scraped over HTTP from
// the metrics server, as Prometheus does.
import { ApiException, type Informer, type KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../src/config.ts';
import { createControllerMetrics } from '../../src/controller/controller-metrics.ts';
import { startController, type RunningController } from '../../src/controller/controller.ts';
import { startHealthServer } from '../../src/controller/health-server.ts';
import type { KubeJson } from '../../src/kube/kube-json.ts';
import { silentLogger } from '../../src/log.ts';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/metrics-server.ts';
import { boundPort } from '../../src/net/listen.ts';
import { CheckpointQueues } from '../../src/queue/checkpoint-queues.ts';
import { createRedisConnection, waitForReady } from '../../src/queue/connection.ts';
import { createScheduleQueue } from '../../src/queue/scheduler-store.ts';
import { SCHEDULE_FIRED_JOB } from '../../src/schedule/desired.ts';
import { nodeQueueName } from '../../src/schedule/names.ts';
import type { IndexFeed } from '../../webhooks/informers.ts';
import type { IndexedKind } from '../../webhooks/restore-index.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import type { Server } from 'node:http';
import type { Redis } from 'ioredis';

const PREFIX = 'cm';
const NS = 'shop';

/** An informer that delivers its objects as its initial list at once. */
class ListedInformer implements Informer<KubernetesObject> {
  readonly #adds: Array<(o: KubernetesObject) => void> = [];
  readonly objects: KubernetesObject[];
  constructor(objects: object[]) {
    this.objects = objects as KubernetesObject[];
  }
  on(verb: string, cb: (o: never) => void): void {
    if (verb === 'add') this.#adds.push(cb as (o: KubernetesObject) => void);
  }
  off(): void {}
  async start(): Promise<void> {
    for (const o of this.objects) for (const cb of this.#adds) cb(o);
  }
  async stop(): Promise<void> {}
}

/** The API server: Leases kept, everything else accepted; `hang` makes every call but the Lease's wait forever. */
class FakeApi implements KubeJson {
  lease: unknown;
  hang = false;
  readonly #waiting: Array<() => void> = [];
  #gate<T>(path: string, value: () => T): Promise<T> {
    if (this.hang && !path.includes('/leases')) return new Promise((_resolve, reject) => this.#waiting.push(() => reject(new Error('released'))));
    return Promise.resolve().then(value);
  }
  release(): void {
    this.hang = false;
    for (const r of this.#waiting.splice(0)) r();
  }
  get<T>(path: string): Promise<T> {
    return this.#gate(path, () => {
      if (path.includes('/leases/')) {
        if (this.lease === undefined) throw new ApiException(404, 'not found', '{}', {});
        return structuredClone(this.lease) as T;
      }
      return { items: [] } as T;
    });
  }
  create<T>(path: string, body: unknown): Promise<T> {
    return this.#gate(path, () => {
      if (path.endsWith('/leases')) this.lease = { ...(body as object), metadata: { ...(body as { metadata: object }).metadata, resourceVersion: '1' } };
      return structuredClone(path.endsWith('/leases') ? this.lease : body) as T;
    });
  }
  replace<T>(path: string, body: unknown): Promise<T> {
    return this.#gate(path, () => {
      if (path.includes('/leases/')) this.lease = body;
      return structuredClone(body) as T;
    });
  }
  patch<T>(path: string): Promise<T> {
    return this.#gate(path, () => ({}) as T);
  }
  delete(path: string): Promise<void> {
    return this.#gate(path, () => undefined);
  }
}

const schedule = {
  apiVersion: 'checkpoint-restore.kcr.io/v1', kind: 'CheckpointSchedule',
  metadata: { name: 'web', namespace: NS, uid: 'sched-uid', creationTimestamp: new Date().toISOString(), generation: 1 },
  spec: { schedule: '0 3 * * *', selector: { matchLabels: { app: 'web' } } },
};
const checkpoint = (name: string, phase: string) => ({
  apiVersion: 'checkpoint-restore.kcr.io/v1', kind: 'Checkpoint',
  metadata: { name, namespace: NS, uid: `${name}-uid` },
  spec: { containerName: 'app', podName: 'web-0' },
  status: { phase },
});

function feeds(): IndexFeed[] {
  const kinds: Array<[string, string, object[]]> = [
    ['pods', 'Pod', []], ['deployments', 'Deployment', []], ['statefulsets', 'StatefulSet', []],
    ['checkpointschedules', 'CheckpointSchedule', [schedule]], ['checkpointrequests', 'CheckpointRequest', []],
    ['checkpoints', 'Checkpoint', [checkpoint('a', 'ImageBuilt'), checkpoint('b', 'ImageBuilt'), checkpoint('c', 'Failed')]],
    ['restorerequests', 'RestoreRequest', []], ['namespaces', 'Namespace', [{ metadata: { name: NS } }]],
    ['nodes', 'Node', [{ metadata: { name: 'node-1' } }]],
  ];
  return kinds.map(([name, kind, objects]) => ({ name, kind: kind as IndexedKind, informer: new ListedInformer(objects) }));
}

let redis: RedisServer;
let producer: Redis;
let workerConnection: Redis;
let api: FakeApi;
let controller: RunningController;
let metricsServer: MetricsServer;
let health: Server;

beforeAll(async () => {
  redis = await startRedis();
  producer = createRedisConnection(redis.url, 'producer');
  workerConnection = createRedisConnection(redis.url, 'worker');
  await Promise.all([waitForReady(producer, 5000), waitForReady(workerConnection, 5000)]);
  api = new FakeApi();
  const metrics = createControllerMetrics();
  const config = parseControllerConfig({ KCR_REGISTRY: 'r.example', KCR_POD_NAME: 'c-1', KCR_QUEUE_PREFIX: PREFIX, KCR_REDIS_URL: redis.url, KCR_CONTROLLER_RESYNC_MS: '200', KCR_QUEUE_METRICS_INTERVAL_SECONDS: '1' });
  controller = startController({
    settings: { ...config, leaseRetryPeriodMs: 100, livenessTimeoutMs: 1500 },
    api, feeds: feeds(), producer, workerConnection, deleteManifest: async () => 'absent', logger: silentLogger(), metrics,
    events: { event: async () => {} },
  });
  metrics.watch(controller.gauges);
  metricsServer = await startMetricsServer({ registry: metrics.registry, host: '127.0.0.1', port: 0 });
  health = await startHealthServer({ notReady: () => controller.notReady(), leading: () => controller.leading(), live: () => controller.live() }, '127.0.0.1', 0);
});

afterAll(async () => {
  api?.release();
  await controller?.stop();
  await metricsServer?.close();
  health?.close();
  for (const c of [producer, workerConnection]) c?.disconnect();
  await redis?.stop();
});

const scrape = async () => (await fetch(`http://127.0.0.1:${metricsServer.port}/metrics`)).text();
const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};
async function until(what: string, check: (text: string) => boolean, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await scrape();
    if (check(text)) return text;
    if (Date.now() > deadline) throw new Error(`never ${what}; last scrape:\n${text.split('\n').filter((l) => l.startsWith('kcr_')).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('controller metrics (real Redis)', () => {
  it('reports leading, Redis up, and the cached Checkpoints by phase', async () => {
    const text = await until('leading', (t) => sample(t, 'kcr_leader') === 1);
    expect(sample(text, 'kcr_redis_up')).toBe(1);
    expect(sample(text, 'kcr_checkpoints{phase="ImageBuilt"}')).toBe(2);
    expect(sample(text, 'kcr_checkpoints{phase="Failed"}')).toBe(1);
    expect(sample(text, 'kcr_schedules_overdue')).toBe(0);
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
  });

  it('counts jobs in a node\'s queue by state, read from Redis', async () => {
    const queues = new CheckpointQueues({ connection: producer, prefix: PREFIX });
    try {
      await queues.enqueue({
        queueName: nodeQueueName('node-1'), jobId: 'metrics-job', requestName: 'r1',
        data: { requestName: 'r1', namespace: NS, podName: 'web-0', podUid: 'u', containerName: 'app', nodeName: 'node-1', timeoutSeconds: 30, fireTime: new Date().toISOString(), schedule: { kind: 'CheckpointSchedule', namespace: NS, name: 'web', uid: 'sched-uid' } },
      });
      await until('a waiting job on node-1', (t) => sample(t, 'kcr_queue_jobs{node="node-1",state="waiting"}') === 1);
    } finally {
      await queues.close();
    }
  });

  it('counts a fired schedule and how late it was handled', async () => {
    const queue = createScheduleQueue(producer, PREFIX);
    try {
      const slot = Date.now() - 2000;
      await queue.add(SCHEDULE_FIRED_JOB, { kind: 'CheckpointSchedule', namespace: NS, name: 'web', uid: 'sched-uid', fingerprint: 'x' }, { jobId: 'metrics-fire', prevMillis: slot } as never);
      const text = await until('a fire counted', (t) => sample(t, 'kcr_schedule_fires_total{outcome="fired"}') === 1);
      expect(sample(text, 'kcr_schedule_fire_lateness_seconds_count')).toBe(1);
      // Two seconds late: in the 2.5 s bucket, not the 1 s one.
      expect(sample(text, 'kcr_schedule_fire_lateness_seconds_bucket{le="1"}')).toBe(0);
      expect(sample(text, 'kcr_schedule_fire_lateness_seconds_bucket{le="5"}')).toBe(1);
    } finally {
      await queue.close();
    }
  });
});

describe('controller liveness', () => {
  it('/livez is 200 while the loops beat, 503 once the reconcile pass hangs on the API server, 200 again once it goes on', async () => {
    const live = () => fetch(`http://127.0.0.1:${boundPort(health)}/livez`);
    await until('leading', (t) => sample(t, 'kcr_leader') === 1);
    expect((await live()).status).toBe(200);
    api.hang = true;
    const started = Date.now();
    let res = await live();
    while (res.status === 200) {
      if (Date.now() - started > 10_000) throw new Error('/livez stayed 200 while the pass hung');
      await new Promise((r) => setTimeout(r, 100));
      res = await live();
    }
    expect(res.status).toBe(503);
    expect((await res.json()) as unknown).toMatchObject({ live: false, stale: [expect.objectContaining({ name: 'reconcile pass' })] });
    api.release();
    const back = Date.now();
    while ((await live()).status !== 200) {
      if (Date.now() - back > 10_000) throw new Error('/livez never came back once the pass went on');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});
