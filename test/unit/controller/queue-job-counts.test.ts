// kcr_queue_jobs' bounded cost: one read per interval, shared by concurrent scrapes; a failed or
// slow read leaves the last counts standing.
import { describe, expect, it } from 'vitest';
import { QueueJobCounts } from '../../../src/controller/queue-job-counts.ts';
import type { QueueJobsSample } from '../../../src/controller/controller-metrics.ts';

const sample = (count: number): QueueJobsSample[] => [{ node: 'n1', state: 'waiting', count }];

describe('QueueJobCounts', () => {
  it('reads at most once per interval, and once for scrapes that arrive together', async () => {
    let now = 0;
    let reads = 0;
    const counts = new QueueJobCounts({ intervalMs: 15_000, now: () => now, read: async () => sample(++reads) });
    const [a, b] = await Promise.all([counts.samples(), counts.samples()]);
    expect(reads).toBe(1);
    expect(a).toEqual(sample(1));
    expect(b).toEqual(sample(1));
    now = 14_999;
    expect(await counts.samples()).toEqual(sample(1));
    now = 15_000;
    expect(await counts.samples()).toEqual(sample(2));
    expect(reads).toBe(2);
  });

  it('keeps the last counts when a read fails or outlasts its timeout', async () => {
    let now = 0;
    let mode: 'ok' | 'fail' | 'hang' = 'ok';
    const counts = new QueueJobCounts({
      intervalMs: 1_000,
      timeoutMs: 20,
      now: () => now,
      read: () => (mode === 'ok' ? Promise.resolve(sample(7)) : mode === 'fail' ? Promise.reject(new Error('Redis down')) : new Promise<QueueJobsSample[]>(() => {})),
    });
    expect(await counts.samples()).toEqual(sample(7));
    mode = 'fail';
    now = 2_000;
    expect(await counts.samples()).toEqual(sample(7));
    mode = 'hang';
    now = 4_000;
    expect(await counts.samples()).toEqual(sample(7));
  });
});
