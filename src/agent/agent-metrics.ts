// Prometheus metrics of the agent, in a registry of its own (tests build several). The job code
// records through CheckpointJobMetrics (passed in with its deps); gauges read their state at
// scrape time.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { redisUpGauge, registryErrorsCounter } from '../metrics/shared-metrics.ts';
import type { RegistryOperation } from '../metrics/registry-operation.ts';

/** How one job attempt ended: retried = a transient failure BullMQ tries again. */
export type JobOutcome = 'completed' | 'skipped' | 'failed' | 'retried';

/** What processCheckpointJob records; every method is cheap and never throws. */
export interface CheckpointJobMetrics {
  /** An attempt started (jobs in flight +1). */
  started(): void;
  /** An attempt ended (jobs in flight -1), after `seconds`. */
  finished(outcome: JobOutcome, seconds: number): void;
  /** A checkpoint failed for good, with the agent's classification (classify-failure.ts). */
  failed(reason: string): void;
  /** An archive stored in the registry: its size, and whether its layer was uploaded (not already there). */
  pushed(archiveBytes: number, uploaded: boolean): void;
  /** A registry call failed (any kind: unreachable, refused, 5xx). */
  registryError(operation: RegistryOperation): void;
}

export interface AgentMetrics extends CheckpointJobMetrics {
  readonly registry: Registry;
}

/** A kubelet checkpoint plus push takes seconds to minutes (the kubelet's timeout is 300 s by default). */
export const CHECKPOINT_DURATION_BUCKETS_SECONDS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200];
/** Archives from a few MiB (a small process) to tens of GiB (a JVM or a model server). */
export const ARCHIVE_BYTES_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536].map((mib) => mib * 1024 * 1024);

export interface AgentMetricsOptions {
  /** Read at scrape time: the worker's Redis connection is ready. */
  redisUp?: () => boolean;
  /** Process metrics (CPU, memory, event loop lag, GC). Default true. */
  defaultMetrics?: boolean;
}

export function createAgentMetrics(opts: AgentMetricsOptions = {}): AgentMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'kcr_checkpoint_duration_seconds',
    help: 'Time of one checkpoint job attempt on this node (kubelet checkpoint, push, records), by outcome (completed|skipped|failed|retried)',
    labelNames: ['outcome'] as const,
    buckets: CHECKPOINT_DURATION_BUCKETS_SECONDS,
    registers: [registry],
  });
  const archiveBytes = new Histogram({
    name: 'kcr_checkpoint_archive_bytes',
    help: 'Size of each checkpoint archive stored in the registry (as stored, after compression)',
    buckets: ARCHIVE_BYTES_BUCKETS,
    registers: [registry],
  });
  const pushBytes = new Counter({
    name: 'kcr_push_bytes_total',
    help: 'Bytes of checkpoint layers uploaded to the registry (a layer already there is not uploaded again)',
    registers: [registry],
  });
  const failures = new Counter({
    name: 'kcr_checkpoint_failures_total',
    help: 'Checkpoints that failed for good (a permanent failure, or the last attempt), by the agent\'s reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: 'kcr_jobs_in_flight',
    help: 'Checkpoint job attempts running on this node now',
    registers: [registry],
  });
  const registryErrors = registryErrorsCounter(registry);
  redisUpGauge(registry, () => opts.redisUp);
  return {
    registry,
    started: () => inFlight.inc(),
    finished(outcome, seconds) {
      inFlight.dec();
      duration.observe({ outcome }, seconds);
    },
    failed: (reason) => failures.inc({ reason }),
    pushed(bytes, uploaded) {
      archiveBytes.observe(bytes);
      if (uploaded) pushBytes.inc(bytes);
    },
    registryError: (operation) => registryErrors.inc({ operation }),
  };
}
