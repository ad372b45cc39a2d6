// Prometheus metrics of the controller, in a registry of its own (tests build several). Events
// are recorded where they happen through ControllerRecorder (passed in with each part's deps);
// gauges read the controller's state at scrape time through the sources given to watch().
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { redisUpGauge, registryErrorsCounter } from '../metrics/shared-metrics.ts';
import type { RegistryOperation } from '../metrics/registry-operation.ts';

/** replacement: a new pod the webhook restored; in-place: a crashed container set to its checkpoint; restore-request: a RestoreRequest. */
export type RestoreKind = 'replacement' | 'in-place' | 'restore-request';
export type RestoreOutcome = 'restored' | 'failed';
/** fired: fanned out; skipped: the schedule is gone, suspended or replaced; failed: an error (BullMQ retries it). */
export type FireOutcome = 'fired' | 'skipped' | 'failed';

/** What the controller's parts record; every method is cheap and never throws. */
export interface ControllerRecorder {
  /** A schedule slot was handled, `latenessSeconds` after the slot's time. */
  scheduleFired(outcome: FireOutcome, latenessSeconds: number): void;
  restore(kind: RestoreKind, outcome: RestoreOutcome, reason: string): void;
  /** A Checkpoint was marked bad (status.bad), by the failure's cause. */
  badCheckpoint(reason: string): void;
  /** A Checkpoint deleted under retention, by retention's reason (orphan|failed|count|size). */
  retentionDeleted(reason: string): void;
  registryError(operation: RegistryOperation): void;
}

export const NO_CONTROLLER_METRICS: ControllerRecorder = {
  scheduleFired: () => {},
  restore: () => {},
  badCheckpoint: () => {},
  retentionDeleted: () => {},
  registryError: () => {},
};

export interface QueueJobsSample {
  node: string;
  state: string;
  count: number;
}

/** Read at scrape time. */
export interface ControllerGaugeSources {
  leading(): boolean;
  redisUp(): boolean;
  /** Checkpoints in the controller's cache, by status.phase. */
  checkpointPhases(): Record<string, number>;
  /** CheckpointSchedules whose next slot passed without a fire (schedule-overdue.ts). */
  schedulesOverdue(): number;
  /** Jobs in each node's queue by state; bounded (cached between reads, queue-job-counts.ts). */
  queueJobs(): Promise<QueueJobsSample[]>;
}

export interface ControllerMetrics extends ControllerRecorder {
  readonly registry: Registry;
  /** The gauges read these from now on. */
  watch(sources: ControllerGaugeSources): void;
}

/** Fires are taken within a second of their slot when healthy; a failover or Redis outage delays them by tens of seconds. */
export const FIRE_LATENESS_BUCKETS_SECONDS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

export function createControllerMetrics(opts: { defaultMetrics?: boolean } = {}): ControllerMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  let sources: ControllerGaugeSources | undefined;

  const lateness = new Histogram({
    name: 'kcr_schedule_fire_lateness_seconds',
    help: 'Time from a schedule slot to the controller handling its fire',
    buckets: FIRE_LATENESS_BUCKETS_SECONDS,
    registers: [registry],
  });
  const fires = new Counter({
    name: 'kcr_schedule_fires_total',
    help: 'Schedule slots handled, by outcome (fired|skipped|failed)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const restores = new Counter({
    name: 'kcr_restores_total',
    help: 'Restores seen by the controller, by kind (replacement|in-place|restore-request), outcome (restored|failed) and reason',
    labelNames: ['kind', 'outcome', 'reason'] as const,
    registers: [registry],
  });
  const bad = new Counter({
    name: 'kcr_bad_checkpoints_total',
    help: 'Checkpoints marked bad after a failed restore, by cause',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const retention = new Counter({
    name: 'kcr_retention_deletions_total',
    help: 'Checkpoints deleted under retention, by reason (orphan|failed|count|size)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const registryErrors = registryErrorsCounter(registry);
  new Gauge({
    name: 'kcr_leader',
    help: '1 while this controller replica holds the Lease and does the leader\'s work, else 0',
    registers: [registry],
    collect() {
      if (sources) this.set(sources.leading() ? 1 : 0);
    },
  });
  redisUpGauge(registry, () => (sources ? () => sources!.redisUp() : undefined));
  new Gauge({
    name: 'kcr_checkpoints',
    help: 'Checkpoints in the controller\'s cache, by status.phase',
    labelNames: ['phase'] as const,
    registers: [registry],
    collect() {
      if (!sources) return;
      this.reset();
      for (const [phase, n] of Object.entries(sources.checkpointPhases())) this.set({ phase }, n);
    },
  });
  new Gauge({
    name: 'kcr_schedules_overdue',
    help: 'CheckpointSchedules whose next slot passed over two minutes ago without a fire',
    registers: [registry],
    collect() {
      if (sources) this.set(sources.schedulesOverdue());
    },
  });
  new Gauge({
    name: 'kcr_queue_jobs',
    help: 'Jobs in each node\'s checkpoint queue, by node and state (read by the leader, at most every KCR_QUEUE_METRICS_INTERVAL_SECONDS)',
    labelNames: ['node', 'state'] as const,
    registers: [registry],
    async collect() {
      if (!sources) return;
      const samples = await sources.queueJobs();
      this.reset();
      for (const s of samples) this.set({ node: s.node, state: s.state }, s.count);
    },
  });

  return {
    registry,
    watch(s) {
      sources = s;
    },
    scheduleFired(outcome, seconds) {
      fires.inc({ outcome });
      lateness.observe(Math.max(0, seconds));
    },
    restore: (kind, outcome, reason) => restores.inc({ kind, outcome, reason }),
    badCheckpoint: (reason) => bad.inc({ reason }),
    retentionDeleted: (reason) => retention.inc({ reason }),
    registryError: (operation) => registryErrors.inc({ operation }),
  };
}
