// The webhook's latency histogram resolves sub-millisecond answers and reaches the
// MutatingWebhookConfiguration's timeout, so answers the API server gave up on are visible.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { LATENCY_BUCKETS_SECONDS, createWebhookMetrics } from '../../../webhooks/metrics.ts';

describe('webhook latency buckets', () => {
  it('go from a quarter millisecond up to the webhook configuration\'s timeoutSeconds', () => {
    const docs = parseAllDocuments(readFileSync(new URL('../../../manifests/webhook/mutatingwebhookconfiguration.yaml', import.meta.url), 'utf8')).map((d) => d.toJS() as { webhooks?: Array<{ timeoutSeconds?: number }> });
    const timeouts = docs.flatMap((d) => d?.webhooks ?? []).map((w) => w.timeoutSeconds);
    expect(timeouts.length).toBeGreaterThan(0);
    for (const t of timeouts) expect(LATENCY_BUCKETS_SECONDS.at(-1)).toBe(t);
    expect(LATENCY_BUCKETS_SECONDS[0]).toBe(0.00025);
    expect([...LATENCY_BUCKETS_SECONDS].sort((a, b) => a - b)).toEqual(LATENCY_BUCKETS_SECONDS);
  });

  it('puts a 2.5 s answer below the 3 s bucket, not in +Inf only', async () => {
    const m = createWebhookMetrics({ defaultMetrics: false });
    m.recordAdmission('unchanged', 'claim-failed', 2.5);
    const text = await m.registry.metrics();
    expect(text).toContain('kcr_webhook_admission_duration_seconds_bucket{le="2",outcome="unchanged"} 0');
    expect(text).toContain('kcr_webhook_admission_duration_seconds_bucket{le="3",outcome="unchanged"} 1');
  });

  it('reports its readiness at scrape time', async () => {
    let ready = false;
    const m = createWebhookMetrics({ defaultMetrics: false, ready: () => ready });
    expect(await m.registry.metrics()).toContain('kcr_webhook_ready 0');
    ready = true;
    expect(await m.registry.metrics()).toContain('kcr_webhook_ready 1');
  });
});
