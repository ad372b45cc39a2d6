// The controller's metrics: names, labels, counting, and the gauges read at scrape time.
import { describe, expect, it } from 'vitest';
import type { Registry } from 'prom-client';
import { createControllerMetrics, type ControllerGaugeSources } from '../../../src/controller/controller-metrics.ts';

async function values(registry: Registry, name: string) {
  // Histogram samples name their series (…_bucket, …_sum, …_count).
  return ((await registry.getMetricsAsJSON()).find((x) => x.name === name)?.values ?? []) as Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
}

const sources = (over: Partial<ControllerGaugeSources> = {}): ControllerGaugeSources => ({
  leading: () => true,
  redisUp: () => true,
  checkpointPhases: () => ({ ImageBuilt: 3, Failed: 1 }),
  schedulesOverdue: () => 0,
  queueJobs: async () => [{ node: 'node-1', state: 'waiting', count: 2 }, { node: 'node-1', state: 'active', count: 1 }],
  ...over,
});

describe('createControllerMetrics', () => {
  it('counts fires by outcome and observes their lateness', async () => {
    const m = createControllerMetrics({ defaultMetrics: false });
    m.scheduleFired('fired', 0.4);
    m.scheduleFired('fired', 42);
    m.scheduleFired('skipped', 0.1);
    expect((await values(m.registry, 'kcr_schedule_fires_total')).map((v) => [v.labels.outcome, v.value]).sort()).toEqual([['fired', 2], ['skipped', 1]]);
    const lateness = await values(m.registry, 'kcr_schedule_fire_lateness_seconds');
    expect(lateness.find((v) => v.metricName === 'kcr_schedule_fire_lateness_seconds_count')?.value).toBe(3);
    expect(lateness.find((v) => v.metricName === 'kcr_schedule_fire_lateness_seconds_bucket' && v.labels.le === 0.5)?.value).toBe(2);
    expect(lateness.find((v) => v.metricName === 'kcr_schedule_fire_lateness_seconds_bucket' && v.labels.le === 30)?.value).toBe(2);
  });

  it('counts restores by kind, outcome and reason; bad checkpoints, retention deletions and registry errors by reason', async () => {
    const m = createControllerMetrics({ defaultMetrics: false });
    m.restore('replacement', 'restored', 'Running');
    m.restore('replacement', 'restored', 'Running');
    m.restore('in-place', 'failed', 'criu');
    m.restore('restore-request', 'restored', 'Restored');
    m.badCheckpoint('criu');
    m.retentionDeleted('count');
    m.registryError('delete');
    expect((await values(m.registry, 'kcr_restores_total')).map((v) => [v.labels.kind, v.labels.outcome, v.labels.reason, v.value]).sort()).toEqual([
      ['in-place', 'failed', 'criu', 1],
      ['replacement', 'restored', 'Running', 2],
      ['restore-request', 'restored', 'Restored', 1],
    ]);
    expect(await values(m.registry, 'kcr_bad_checkpoints_total')).toEqual([expect.objectContaining({ labels: { reason: 'criu' }, value: 1 })]);
    expect(await values(m.registry, 'kcr_retention_deletions_total')).toEqual([expect.objectContaining({ labels: { reason: 'count' }, value: 1 })]);
    expect(await values(m.registry, 'kcr_registry_errors_total')).toEqual([expect.objectContaining({ labels: { operation: 'delete' }, value: 1 })]);
  });

  it('reads leader, Redis, checkpoints by phase, overdue schedules and queue jobs at scrape time', async () => {
    const m = createControllerMetrics({ defaultMetrics: false });
    let leading = true;
    let phases: Record<string, number> = { ImageBuilt: 3, Failed: 1 };
    m.watch(sources({ leading: () => leading, checkpointPhases: () => phases, schedulesOverdue: () => 2 }));
    expect((await values(m.registry, 'kcr_leader'))[0]?.value).toBe(1);
    expect((await values(m.registry, 'kcr_redis_up'))[0]?.value).toBe(1);
    expect((await values(m.registry, 'kcr_schedules_overdue'))[0]?.value).toBe(2);
    expect((await values(m.registry, 'kcr_checkpoints')).map((v) => [v.labels.phase, v.value]).sort()).toEqual([['Failed', 1], ['ImageBuilt', 3]]);
    expect((await values(m.registry, 'kcr_queue_jobs')).map((v) => [v.labels.node, v.labels.state, v.value]).sort()).toEqual([['node-1', 'active', 1], ['node-1', 'waiting', 2]]);
    leading = false;
    phases = { ImageBuilt: 1 };
    expect((await values(m.registry, 'kcr_leader'))[0]?.value).toBe(0);
    // A phase with no Checkpoint left is gone, not stuck at its last value.
    expect((await values(m.registry, 'kcr_checkpoints')).map((v) => [v.labels.phase, v.value])).toEqual([['ImageBuilt', 1]]);
  });

  it('lists every metric before anything happened, so a scrape shows what exists', async () => {
    const text = await createControllerMetrics({ defaultMetrics: false }).registry.metrics();
    for (const name of ['kcr_restores_total', 'kcr_bad_checkpoints_total', 'kcr_retention_deletions_total', 'kcr_schedule_fires_total', 'kcr_registry_errors_total']) {
      expect(text).toContain(`# TYPE ${name} counter`);
    }
    expect(text).toContain('# TYPE kcr_schedule_fire_lateness_seconds histogram');
  });
});
