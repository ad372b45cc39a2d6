// The conditions users wait on (`kubectl wait --for=condition=Complete checkpointrequest/x`,
// `--for=condition=Ready checkpoint/y`), derived from each kind's phase.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkpointConditions,
  checkpointRequestConditions,
  restoreRequestConditions,
  setCondition,
  type CheckpointReadiness,
} from '../../../src/api/conditions.ts';
import type { CheckpointRequestPhase, Condition, RestoreRequestPhase } from '../../../src/api/types.ts';

const T0 = new Date('2026-12-04T10:00:00.000Z');
const T1 = new Date('2026-12-04T10:00:07.250Z');
const IMAGE = `registry.kcr/kcr/apps/web-0@sha256:${'a'.repeat(64)}`;

/** The two conditions as `kubectl wait` reads them: type -> status/reason. */
function view(conditions: Condition[]): Record<string, string> {
  return Object.fromEntries(conditions.map((c) => [c.type, `${c.status}/${c.reason}`]));
}

describe('checkpointRequestConditions', () => {
  const table: Array<[CheckpointRequestPhase | undefined, string | undefined, Record<string, string>]> = [
    [undefined, undefined, { Complete: 'False/Pending', Failed: 'False/Pending' }],
    ['Pending', undefined, { Complete: 'False/Pending', Failed: 'False/Pending' }],
    ['InProgress', undefined, { Complete: 'False/InProgress', Failed: 'False/InProgress' }],
    ['Completed', undefined, { Complete: 'True/CheckpointCreated', Failed: 'False/CheckpointCreated' }],
    ['Failed', undefined, { Complete: 'False/CheckpointFailed', Failed: 'True/CheckpointFailed' }],
    ['Failed', 'PodNotFound', { Complete: 'False/PodNotFound', Failed: 'True/PodNotFound' }],
    // Not CamelCase (the CRD would refuse it): the kind's default.
    ['Failed', 'pod not found', { Complete: 'False/CheckpointFailed', Failed: 'True/CheckpointFailed' }],
  ];
  it.each(table)('phase %s (reason %s) -> %o', (phase, reason, want) => {
    const got = checkpointRequestConditions(undefined, { phase, reason, message: 'm', generation: 3, now: T0 });
    expect(view(got)).toEqual(want);
    for (const c of got) expect(c).toEqual({ type: c.type, status: c.status, reason: c.reason, message: 'm', lastTransitionTime: '2026-12-04T10:00:00Z', observedGeneration: 3 });
  });

  it('a request that completes turns Complete True at that moment; Failed keeps the time it became False', () => {
    const pending = checkpointRequestConditions(undefined, { phase: 'Pending', generation: 1, now: T0 });
    const running = checkpointRequestConditions(pending, { phase: 'InProgress', message: 'checkpointing on node a', generation: 1, now: T1 });
    const done = checkpointRequestConditions(running, { phase: 'Completed', message: 'Checkpoint x stored', generation: 1, now: new Date('2026-12-04T10:01:00Z') });
    const byType = Object.fromEntries(done.map((c) => [c.type, c]));
    expect(byType.Complete).toMatchObject({ status: 'True', message: 'Checkpoint x stored', lastTransitionTime: '2026-12-04T10:01:00Z' });
    expect(byType.Failed).toMatchObject({ status: 'False', lastTransitionTime: '2026-12-04T10:00:00Z' });
    // Pending -> InProgress changed no status: both kept T0, while reason and message moved on.
    expect(running.map((c) => c.lastTransitionTime)).toEqual(['2026-12-04T10:00:00Z', '2026-12-04T10:00:00Z']);
    expect(running[0]).toMatchObject({ reason: 'InProgress', message: 'checkpointing on node a' });
  });

  it('has a message for each phase when the status has none, and leaves conditions of other types alone', () => {
    const other: Condition = { type: 'Archived', status: 'True', reason: 'Kept', message: 'x', lastTransitionTime: '2026-01-01T00:00:00Z' };
    const got = checkpointRequestConditions([other], { phase: 'InProgress', now: T0 });
    expect(got.find((c) => c.type === 'Archived')).toEqual(other);
    expect(got.filter((c) => c.type !== 'Archived').every((c) => c.message.length > 0 && c.observedGeneration === undefined)).toBe(true);
  });
});

describe('restoreRequestConditions', () => {
  const table: Array<[RestoreRequestPhase | undefined, Record<string, string>]> = [
    [undefined, { Complete: 'False/Pending', Failed: 'False/Pending' }],
    ['Checkpointing', { Complete: 'False/Checkpointing', Failed: 'False/Checkpointing' }],
    ['Restoring', { Complete: 'False/Restoring', Failed: 'False/Restoring' }],
    ['Completed', { Complete: 'True/Restored', Failed: 'False/Restored' }],
    ['Failed', { Complete: 'False/RestoreFailed', Failed: 'True/RestoreFailed' }],
  ];
  it.each(table)('phase %s -> %o', (phase, want) => {
    expect(view(restoreRequestConditions(undefined, { phase, message: 'm', generation: 1, now: T0 }))).toEqual(want);
  });
});

describe('checkpointConditions', () => {
  const table: Array<[string, CheckpointReadiness, Record<string, string>]> = [
    ['no status yet', {}, { ImageBuilt: 'False/Processing', Ready: 'False/Processing' }],
    ['Processing', { phase: 'Processing' }, { ImageBuilt: 'False/Processing', Ready: 'False/Processing' }],
    ['ImageBuilt', { phase: 'ImageBuilt', runtimeImage: IMAGE }, { ImageBuilt: 'True/Pushed', Ready: 'True/ImageBuilt' }],
    ['ImageBuilt without a runtimeImage', { phase: 'ImageBuilt' }, { ImageBuilt: 'False/Processing', Ready: 'False/Processing' }],
    ['Failed', { phase: 'Failed', failedReason: 'archive lost' }, { ImageBuilt: 'False/CheckpointFailed', Ready: 'False/CheckpointFailed' }],
    ['marked bad', { phase: 'ImageBuilt', runtimeImage: IMAGE, bad: true, badReason: 'restore failed on two nodes' }, { ImageBuilt: 'True/Pushed', Ready: 'False/MarkedBad' }],
  ];
  it.each(table)('%s -> %o', (_name, status, want) => {
    expect(view(checkpointConditions(undefined, status, { generation: 1, now: T0 }))).toEqual(want);
  });

  it('a checkpoint marked bad goes Ready False then, with the reason as message; ImageBuilt keeps its time', () => {
    const built = checkpointConditions(undefined, { phase: 'ImageBuilt', runtimeImage: IMAGE }, { generation: 1, now: T0 });
    const bad = checkpointConditions(built, { phase: 'ImageBuilt', runtimeImage: IMAGE, bad: true, badReason: 'CRIU failed' }, { generation: 1, now: T1 });
    expect(bad.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'MarkedBad', message: 'CRIU failed', lastTransitionTime: '2026-12-04T10:00:07Z' });
    expect(bad.find((c) => c.type === 'ImageBuilt')).toEqual(built.find((c) => c.type === 'ImageBuilt'));
  });
});

// ---------- properties ----------

const requestPhase = fc.constantFrom<CheckpointRequestPhase | undefined>(undefined, 'Pending', 'InProgress', 'Completed', 'Failed');
const restorePhase = fc.constantFrom<RestoreRequestPhase | undefined>(undefined, 'Pending', 'Checkpointing', 'Restoring', 'Completed', 'Failed');
const readiness: fc.Arbitrary<CheckpointReadiness> = fc.record(
  {
    phase: fc.constantFrom('Created', 'Processing', 'ImageBuilt', 'Failed') as fc.Arbitrary<CheckpointReadiness['phase']>,
    runtimeImage: fc.constant(IMAGE),
    failedReason: fc.string({ maxLength: 20 }),
    bad: fc.boolean(),
    badReason: fc.string({ maxLength: 20 }),
  },
  { requiredKeys: ['phase'] },
);
const moment = fc.integer({ min: 0, max: 10_000_000 }).map((s) => new Date(T0.getTime() + s * 1000));
const generation = fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined });
const reason = fc.option(fc.constantFrom('PodNotFound', 'TimedOut', 'not camel', ''), { nil: undefined });
const message = fc.option(fc.string({ maxLength: 30 }), { nil: undefined });

/** Each kind's function as (previous, state, now) -> conditions, over an arbitrary of its states. */
const kinds = [
  {
    name: 'CheckpointRequest',
    state: fc.record({ phase: requestPhase, reason, message, generation }),
    apply: (prev: Condition[] | undefined, s: { phase: CheckpointRequestPhase | undefined; reason: string | undefined; message: string | undefined; generation: number | undefined }, now: Date) =>
      checkpointRequestConditions(prev, { ...s, now }),
  },
  {
    name: 'RestoreRequest',
    state: fc.record({ phase: restorePhase, reason, message, generation }),
    apply: (prev: Condition[] | undefined, s: { phase: RestoreRequestPhase | undefined; reason: string | undefined; message: string | undefined; generation: number | undefined }, now: Date) =>
      restoreRequestConditions(prev, { ...s, now }),
  },
  {
    name: 'Checkpoint',
    state: fc.record({ status: readiness, generation }),
    apply: (prev: Condition[] | undefined, s: { status: CheckpointReadiness; generation: number | undefined }, now: Date) =>
      checkpointConditions(prev, s.status, { generation: s.generation, now }),
  },
] as const;

describe('conditions properties (every kind)', () => {
  for (const k of kinds) {
    const apply = k.apply as (prev: Condition[] | undefined, s: unknown, now: Date) => Condition[];
    const state = k.state as fc.Arbitrary<unknown>;

    it(`${k.name}: writing the same state again, later, changes nothing`, () => {
      fc.assert(
        fc.property(fc.array(state, { maxLength: 5 }), state, moment, moment, (history, s, a, b) => {
          const before = history.reduce<Condition[] | undefined>((prev, h, i) => apply(prev, h, new Date(T0.getTime() + i * 1000)), undefined);
          const once = apply(before, s, a);
          expect(apply(once, s, b)).toEqual(once);
        }),
      );
    });

    it(`${k.name}: lastTransitionTime moves exactly when a condition's status changes`, () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(state, moment), { minLength: 1, maxLength: 8 }), (steps) => {
          let prev: Condition[] | undefined;
          for (const [s, now] of steps) {
            const next = apply(prev, s, now);
            for (const c of next) {
              const old = prev?.find((p) => p.type === c.type);
              if (old !== undefined && old.status === c.status) expect(c.lastTransitionTime).toBe(old.lastTransitionTime);
              else expect(c.lastTransitionTime).toBe(now.toISOString().replace(/\.\d{3}Z$/, 'Z'));
            }
            prev = next;
          }
        }),
      );
    });

    it(`${k.name}: one condition per type, sorted, each with a CamelCase reason, a message, and the writer's generation`, () => {
      fc.assert(
        fc.property(state, moment, (s, now) => {
          const got = apply(undefined, s, now);
          expect(got.map((c) => c.type)).toEqual([...new Set(got.map((c) => c.type))].sort());
          const gen = (s as { generation?: number }).generation;
          for (const c of got) {
            expect(c.reason).toMatch(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/);
            expect(typeof c.message).toBe('string');
            expect(['True', 'False', 'Unknown']).toContain(c.status);
            expect(c.observedGeneration).toBe(gen);
          }
        }),
      );
    });
  }

  it('a request is never both Complete and Failed, and is one of them exactly when its phase is final', () => {
    fc.assert(
      fc.property(requestPhase, restorePhase, moment, (p, r, now) => {
        for (const [got, phase] of [[checkpointRequestConditions(undefined, { phase: p, now }), p], [restoreRequestConditions(undefined, { phase: r, now }), r]] as const) {
          const trues = got.filter((c) => c.status === 'True').map((c) => c.type);
          expect(trues).toEqual(phase === 'Completed' ? ['Complete'] : phase === 'Failed' ? ['Failed'] : []);
        }
      }),
    );
  });
});

describe('setCondition', () => {
  it('a transition changes lastTransitionTime; the same status keeps it', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'X', message: '', lastTransitionTime: 't1' });
    expect(setCondition(a, { type: 'Ready', status: 'True', reason: 'Y', message: '', lastTransitionTime: 't2' })[0]).toMatchObject({ reason: 'Y', lastTransitionTime: 't1' });
    expect(setCondition(a, { type: 'Ready', status: 'False', reason: 'Y', message: '', lastTransitionTime: 't2' })[0]!.lastTransitionTime).toBe('t2');
  });
});
