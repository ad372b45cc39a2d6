import { describe, expect, it } from 'vitest';
import type { CheckpointRequest, CheckpointSchedule } from '../../../src/api/types.ts';
import { desiredScheduleStatus, lastSuccessfulRun, sameStatus, setCondition } from '../../../src/controller/schedule-status.ts';
import { REQUEST_ANNOTATIONS } from '../../../src/controller/checkpoint-request.ts';

const now = new Date('2026-11-24T10:00:30.000Z');
const schedule = (spec: Partial<CheckpointSchedule['spec']> = {}, status?: CheckpointSchedule['status']): CheckpointSchedule => ({
  apiVersion: 'checkpoint-restore.kcr.io/v1',
  kind: 'CheckpointSchedule',
  metadata: { name: 's', namespace: 'ns', uid: 'u', generation: 4 },
  spec: { schedule: '*/5 * * * *', selector: { matchLabels: { a: 'b' } }, ...spec },
  ...(status ? { status } : {}),
});
const req = (fire: string, phase: 'Pending' | 'InProgress' | 'Completed' | 'Failed' | undefined, completionTime?: string): CheckpointRequest => ({
  apiVersion: 'checkpoint-restore.kcr.io/v1',
  kind: 'CheckpointRequest',
  metadata: { name: `r-${Math.random()}`, namespace: 'ns', annotations: { [REQUEST_ANNOTATIONS.fireTime]: fire } },
  spec: { podReference: { name: 'p' }, containerName: 'c' },
  ...(phase ? { status: { phase, ...(completionTime ? { completionTime } : {}) } } : {}),
});

describe('desiredScheduleStatus', () => {
  it('valid: Ready=True Scheduled, nextRunTime is the next slot, observedGeneration set', () => {
    const s = desiredScheduleStatus({ schedule: schedule(), invalid: undefined, requests: [], now });
    expect(s.nextRunTime).toBe('2026-11-24T10:05:00Z');
    expect(s.observedGeneration).toBe(4);
    expect(s.conditions).toEqual([expect.objectContaining({ type: 'Ready', status: 'True', reason: 'Scheduled', observedGeneration: 4 })]);
  });

  it('invalid: Ready=False InvalidSchedule with the message, no nextRunTime', () => {
    const s = desiredScheduleStatus({
      schedule: schedule({ timeZone: 'Mars/Olympus' }, { nextRunTime: '2026-01-01T00:00:00Z' }),
      invalid: 'timeZone "Mars/Olympus" is not a known IANA time zone',
      requests: [],
      now,
    });
    expect(s.nextRunTime).toBeUndefined();
    expect(s.conditions?.[0]).toMatchObject({ status: 'False', reason: 'InvalidSchedule', message: expect.stringContaining('Mars/Olympus') });
  });

  it('suspended: Ready=False Suspended, no nextRunTime', () => {
    const s = desiredScheduleStatus({ schedule: schedule({ suspend: true }), invalid: undefined, requests: [], now });
    expect(s.conditions?.[0]).toMatchObject({ status: 'False', reason: 'Suspended' });
    expect(s.nextRunTime).toBeUndefined();
  });

  it('a job scheduler that could not be written: Ready=False NotRegistered with why, no nextRunTime; registered again: True', () => {
    const s = desiredScheduleStatus({ schedule: schedule(), invalid: undefined, unregistered: 'READONLY You can\'t write against a read only replica.', requests: [], now });
    expect(s.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'NotRegistered', message: expect.stringContaining('read only replica'), observedGeneration: 4 });
    expect(s.nextRunTime).toBeUndefined();
    const later = new Date(now.getTime() + 60_000);
    const again = desiredScheduleStatus({ schedule: schedule(undefined, s), invalid: undefined, requests: [], now: later });
    expect(again.conditions?.[0]).toMatchObject({ status: 'True', reason: 'Scheduled', lastTransitionTime: '2026-11-24T10:01:30Z' });
  });

  it('an invalid schedule is reported as invalid even when its scheduler also failed', () => {
    const s = desiredScheduleStatus({ schedule: schedule({ timeZone: 'Mars/Olympus' }), invalid: 'bad zone', unregistered: 'x', requests: [], now });
    expect(s.conditions?.[0]).toMatchObject({ reason: 'InvalidSchedule' });
  });

  it('is stable: computing again from its own output needs no write, and keeps other fields', () => {
    const first = desiredScheduleStatus({ schedule: schedule(undefined, { lastRunTime: '2026-11-24T10:00:00Z', checkpointsCreated: 7 }), invalid: undefined, requests: [], now });
    const second = desiredScheduleStatus({ schedule: schedule(undefined, first), invalid: undefined, requests: [], now: new Date(now.getTime() + 10_000) });
    expect(sameStatus(first, second)).toBe(true);
    expect(second).toMatchObject({ lastRunTime: '2026-11-24T10:00:00Z', checkpointsCreated: 7 });
  });

  it('a transition changes lastTransitionTime; the same status keeps it', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'x', message: '', lastTransitionTime: 't1' });
    expect(setCondition(a, { type: 'Ready', status: 'True', reason: 'y', message: '', lastTransitionTime: 't2' })[0]!.lastTransitionTime).toBe('t1');
    expect(setCondition(a, { type: 'Ready', status: 'False', reason: 'y', message: '', lastTransitionTime: 't2' })[0]!.lastTransitionTime).toBe('t2');
  });
});

describe('lastSuccessfulRun', () => {
  const f1 = '2026-11-24T09:00:00.000Z';
  const f2 = '2026-11-24T09:05:00.000Z';
  it('is the end of the newest run whose requests all completed', () => {
    expect(lastSuccessfulRun([
      req(f1, 'Completed', '2026-11-24T09:00:10Z'), req(f1, 'Completed', '2026-11-24T09:00:20Z'),
      req(f2, 'Completed', '2026-11-24T09:05:10Z'), req(f2, 'InProgress'),
    ])).toBe('2026-11-24T09:00:20Z');
  });
  it('a run with a failure is not successful', () => {
    expect(lastSuccessfulRun([req(f1, 'Completed', '2026-11-24T09:00:10Z'), req(f1, 'Failed', '2026-11-24T09:00:11Z')])).toBeUndefined();
  });
  it('never moves lastSuccessfulTime backwards when old requests were deleted', () => {
    const s = desiredScheduleStatus({ schedule: schedule(undefined, { lastSuccessfulTime: '2026-11-24T09:30:00Z' }), invalid: undefined,
      requests: [req(f1, 'Completed', '2026-11-24T09:00:10Z')], now });
    expect(s.lastSuccessfulTime).toBe('2026-11-24T09:30:00Z');
  });
});
