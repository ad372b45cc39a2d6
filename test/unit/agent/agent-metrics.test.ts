// The agent's metrics: names, labels and what each call counts.
import { describe, expect, it } from 'vitest';
import type { Registry } from 'prom-client';
import { createAgentMetrics } from '../../../src/agent/agent-metrics.ts';

async function values(registry: Registry, name: string) {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  // Histogram samples name their series (…_bucket, …_sum, …_count).
  return (m?.values ?? []) as Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
}

describe('createAgentMetrics', () => {
  it('times attempts by outcome and counts jobs in flight', async () => {
    const m = createAgentMetrics({ defaultMetrics: false });
    m.started();
    m.started();
    expect((await values(m.registry, 'kcr_jobs_in_flight'))[0]?.value).toBe(2);
    m.finished('completed', 4.2);
    m.finished('retried', 0.3);
    expect((await values(m.registry, 'kcr_jobs_in_flight'))[0]?.value).toBe(0);
    const counts = (await values(m.registry, 'kcr_checkpoint_duration_seconds')).filter((v) => v.metricName === 'kcr_checkpoint_duration_seconds_count');
    expect(counts.map((v) => [v.labels.outcome, v.value]).sort()).toEqual([['completed', 1], ['retried', 1]]);
    const sum = (await values(m.registry, 'kcr_checkpoint_duration_seconds')).find((v) => v.metricName === 'kcr_checkpoint_duration_seconds_sum' && v.labels.outcome === 'completed');
    expect(sum?.value).toBeCloseTo(4.2);
  });

  it('counts failures by reason, archive sizes, uploaded bytes only when the layer was uploaded, and registry errors by operation', async () => {
    const m = createAgentMetrics({ defaultMetrics: false });
    m.failed('ContainerNotFound');
    m.failed('ContainerNotFound');
    m.failed('RegistryUnavailable');
    m.pushed(10 * 1024 * 1024, true);
    m.pushed(5 * 1024 * 1024, false);
    m.registryError('push');
    expect((await values(m.registry, 'kcr_checkpoint_failures_total')).map((v) => [v.labels.reason, v.value]).sort()).toEqual([['ContainerNotFound', 2], ['RegistryUnavailable', 1]]);
    expect((await values(m.registry, 'kcr_push_bytes_total'))[0]?.value).toBe(10 * 1024 * 1024);
    const archive = await values(m.registry, 'kcr_checkpoint_archive_bytes');
    expect(archive.find((v) => v.metricName === 'kcr_checkpoint_archive_bytes_count')?.value).toBe(2);
    expect(archive.find((v) => v.metricName === 'kcr_checkpoint_archive_bytes_bucket' && v.labels.le === 4 * 1024 * 1024)?.value).toBe(0);
    expect(archive.find((v) => v.metricName === 'kcr_checkpoint_archive_bytes_bucket' && v.labels.le === 16 * 1024 * 1024)?.value).toBe(2);
    expect((await values(m.registry, 'kcr_registry_errors_total'))).toEqual([expect.objectContaining({ labels: { operation: 'push' }, value: 1 })]);
  });

  it('reports Redis up or down at scrape time', async () => {
    let up = true;
    const m = createAgentMetrics({ defaultMetrics: false, redisUp: () => up });
    expect((await values(m.registry, 'kcr_redis_up'))[0]?.value).toBe(1);
    up = false;
    expect((await values(m.registry, 'kcr_redis_up'))[0]?.value).toBe(0);
  });

  it('has process metrics by default, in its own registry', async () => {
    const a = createAgentMetrics();
    const b = createAgentMetrics();
    expect(await a.registry.metrics()).toContain('process_cpu_seconds_total');
    a.failed('X');
    expect(await values(b.registry, 'kcr_checkpoint_failures_total')).toEqual([]);
  });
});
