// Prometheus metrics of the webhook, in a registry of its own (one per app, so
// tests can build several). Scraped on GET /metrics of the HTTPS port and of KCR_METRICS_PORT.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type AdmissionOutcome = 'patched' | 'unchanged' | 'error';

/**
 * Admission latencies are sub-millisecond when healthy; the buckets resolve that range, and go
 * on up to the MutatingWebhookConfiguration's timeoutSeconds (3): a claim write waits on the API
 * server, and an answer near 3 s is one the API server is about to give up on.
 */
export const LATENCY_BUCKETS_SECONDS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3];

export interface WebhookMetrics {
  readonly registry: Registry;
  /** One admission answered (or rejected), with how long it took in seconds. */
  recordAdmission(outcome: AdmissionOutcome, reason: string, seconds: number): void;
}

export interface WebhookMetricsOptions {
  /** Read at scrape time for the index size gauge. */
  indexSizes?: () => Record<string, number>;
  /** Read at scrape time: /readyz would answer 200 (index synced and fresh, not draining). */
  ready?: () => boolean;
  /** Process metrics (CPU, memory, event loop lag, GC). Default true. */
  defaultMetrics?: boolean;
}

export function createWebhookMetrics(opts: WebhookMetricsOptions = {}): WebhookMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const admissions = new Counter({
    name: 'kcr_webhook_admissions_total',
    help: 'Pod admission reviews answered, by outcome (patched|unchanged|error) and reason',
    labelNames: ['outcome', 'reason'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'kcr_webhook_admission_duration_seconds',
    help: 'Time from the start of a /mutate request (headers read) to its answer, by outcome',
    labelNames: ['outcome'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry],
  });
  const sizes = opts.indexSizes;
  new Gauge({
    name: 'kcr_webhook_index_objects',
    help: 'Objects held in the restore index, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      if (!sizes) return;
      this.reset();
      for (const [kind, n] of Object.entries(sizes())) this.set({ kind }, n);
    },
  });

  const ready = opts.ready;
  new Gauge({
    name: 'kcr_webhook_ready',
    help: '1 while this replica restores (its index synced and fresh, not draining), else 0',
    registers: [registry],
    collect() {
      if (ready) this.set(ready() ? 1 : 0);
    },
  });

  // Label children are cached: looking them up by label object hashes on every call.
  const counters = new Map<string, { inc(): void }>();
  const histograms = new Map<AdmissionOutcome, { observe(v: number): void }>();
  return {
    registry,
    recordAdmission(outcome, reason, seconds) {
      const key = `${outcome}\u0000${reason}`;
      let c = counters.get(key);
      if (!c) {
        c = admissions.labels({ outcome, reason });
        counters.set(key, c);
      }
      c.inc();
      let h = histograms.get(outcome);
      if (!h) {
        h = latency.labels({ outcome });
        histograms.set(outcome, h);
      }
      h.observe(seconds);
    },
  };
}
