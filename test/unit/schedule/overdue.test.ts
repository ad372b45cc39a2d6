// A schedule is overdue when the slot its status names (or, never fired, the first after its
// creation) passed more than the grace ago.
import { describe, expect, it } from 'vitest';
import type { CheckpointSchedule } from '../../../src/api/types.ts';
import { overdueSchedules } from '../../../src/schedule/overdue.ts';

function cps(name: string, over: { nextRunTime?: string; created?: string; suspend?: boolean; schedule?: string; deleting?: boolean } = {}): CheckpointSchedule {
  return {
    apiVersion: 'checkpoint-restore.kcr.io/v1',
    kind: 'CheckpointSchedule',
    metadata: { name, namespace: 'ns', creationTimestamp: over.created ?? '2026-01-01T00:00:30Z', ...(over.deleting ? { deletionTimestamp: '2026-01-01T00:09:00Z' } : {}) },
    spec: { schedule: over.schedule ?? '*/5 * * * *', ...(over.suspend ? { suspend: true } : {}) },
    ...(over.nextRunTime ? { status: { nextRunTime: over.nextRunTime } } : {}),
  } as CheckpointSchedule;
}

const now = new Date('2026-01-01T00:10:00Z');
const names = (list: CheckpointSchedule[]) => list.map((c) => c.metadata.name);

describe('overdueSchedules', () => {
  it.each([
    ['next run in the future', cps('a', { nextRunTime: '2026-01-01T00:15:00Z' }), false],
    ['next run passed within the grace', cps('a', { nextRunTime: '2026-01-01T00:08:30Z' }), false],
    ['next run passed longer than the grace ago', cps('a', { nextRunTime: '2026-01-01T00:05:00Z' }), true],
    ['never fired, its first slot (00:05) passed longer ago', cps('a'), true],
    ['never fired, created just now', cps('a', { created: '2026-01-01T00:09:00Z' }), false],
    ['suspended', cps('a', { nextRunTime: '2026-01-01T00:05:00Z', suspend: true }), false],
    ['being deleted', cps('a', { nextRunTime: '2026-01-01T00:05:00Z', deleting: true }), false],
    ['invalid cron, never fired', cps('a', { schedule: 'every minute' }), false],
  ] as const)('%s', (_what, schedule, overdue) => {
    expect(names(overdueSchedules([schedule], now))).toEqual(overdue ? ['a'] : []);
  });
});
