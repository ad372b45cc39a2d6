// The stuck-request decision: which unfinished CheckpointRequests fail, with which reason, and
// when (timeout plus margin; a lost node, agent or job only after the grace). Redis unreachable
// never fails one.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CheckpointRequest, CheckpointRequestPhase } from '../../../src/api/types.ts';
import type { CheckpointJobState } from '../../../src/queue/checkpoint-queues.ts';
import { overdue, staleRequestDecision, type StaleInput, type Suspect } from '../../../src/controller/stale-request.ts';

const CREATED = Date.parse('2026-11-24T10:00:00Z');
const at = (s: number) => new Date(CREATED + s * 1000);
const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const MARGIN = 300;
const GRACE = 120;

function request(over: { phase?: CheckpointRequestPhase; node?: string; startS?: number; timeout?: number; deleting?: boolean } = {}): CheckpointRequest {
  return {
    apiVersion: 'checkpoint-restore.kcr.io/v1',
    kind: 'CheckpointRequest',
    metadata: { name: 'web-0-app-1a2b', namespace: 'shop', uid: 'ruid', creationTimestamp: iso(at(0)), ...(over.deleting ? { deletionTimestamp: iso(at(1)) } : {}) },
    spec: { podReference: { name: 'web-0' }, containerName: 'app', ...(over.timeout !== undefined ? { timeoutSeconds: over.timeout } : {}) },
    status: {
      phase: over.phase ?? 'Pending',
      ...('node' in over ? (over.node !== undefined ? { nodeName: over.node } : {}) : { nodeName: 'node-a' }),
      ...(over.startS !== undefined ? { startTime: iso(at(over.startS)) } : {}),
    },
  };
}

function input(over: Partial<StaleInput> = {}): StaleInput {
  return { request: request(), now: at(10), job: 'waiting', nodeExists: true, suspect: undefined, marginSeconds: MARGIN, graceSeconds: GRACE, ...over };
}

describe('staleRequestDecision', () => {
  it.each<[string, Partial<StaleInput>]>([
    ['a queued request whose job waits', {}],
    ['a running job within its timeout', { request: request({ phase: 'InProgress', startS: 5 }), job: 'active' }],
    ['a job waiting for its retry', { request: request({ phase: 'InProgress', startS: 5 }), job: 'delayed' }],
    ['a waiting job just before timeout plus margin', { now: at(600) }],
    ['a request not queued yet (no node), within its timeout', { request: request({ node: undefined }), job: undefined, nodeExists: undefined, now: at(500) }],
    ['Redis unreachable, long past the timeout', { job: 'unknown', now: at(100_000) }],
    ['Redis unreachable, node gone', { job: 'unknown', nodeExists: false, suspect: { cause: 'node-gone', sinceMs: CREATED }, now: at(5000) }],
    ['a finished request', { request: request({ phase: 'Completed' }), job: 'missing', now: at(100_000) }],
    ['a failed request', { request: request({ phase: 'Failed' }), job: 'missing', now: at(100_000) }],
    ['a request being deleted', { request: request({ deleting: true }), job: 'missing', now: at(100_000) }],
    ['an active job on a node the API no longer lists (its worker still holds the lock)', { request: request({ phase: 'InProgress', startS: 5 }), job: 'active', nodeExists: false, now: at(500) }],
  ])('keeps %s', (_name, over) => {
    expect(staleRequestDecision(input(over)).action).toBe('keep');
  });

  it.each<[string, Partial<StaleInput>, string, RegExp]>([
    ['a job waiting past timeout plus margin', { now: at(601) }, 'TimedOut',
      /not finished within 600 s \(timeoutSeconds 300 plus a margin of 300 s\): its job is still waiting in node node-a's queue \(is the agent on node-a running\?\)/],
    ['an active job past its own timeout plus margin', { request: request({ phase: 'InProgress', startS: 100, timeout: 60 }), job: 'active', now: at(461) }, 'TimedOut',
      /not finished within 360 s .*: its job is still running on node node-a/],
    ['a request never queued (its pod never ran)', { request: request({ node: undefined }), job: undefined, nodeExists: undefined, now: at(601) }, 'TimedOut',
      /it was never queued \(its pod did not run on a node\)/],
    ['a job gone from Redis for the grace', { job: 'missing', suspect: { cause: 'job-missing', sinceMs: at(10).getTime() }, now: at(130) }, 'JobLost',
      /its job is no longer in node node-a's queue \(Redis lost it, or it was deleted\); seen so for 120 s/],
    ['a node gone for the grace', { job: 'waiting', nodeExists: false, suspect: { cause: 'node-gone', sinceMs: at(10).getTime() }, now: at(200) }, 'NodeGone',
      /node node-a no longer exists/],
    ['a job whose agent died (active, lock expired) for the grace', { request: request({ phase: 'InProgress', startS: 5 }), job: 'stalled', suspect: { cause: 'agent-gone', sinceMs: at(10).getTime() }, now: at(130) }, 'AgentGone',
      /the agent on node node-a stopped working on its job/],
    ['a job failed without the agent recording it', { request: request({ phase: 'InProgress', startS: 5 }), job: 'failed', jobFailedReason: 'job stalled more than allowable limit', suspect: { cause: 'job-failed', sinceMs: at(0).getTime() }, now: at(130) }, 'JobFailed',
      /its job failed on node node-a \(job stalled more than allowable limit\) without the agent recording it/],
    ['a job completed without the request completing', { request: request({ phase: 'InProgress', startS: 5 }), job: 'completed', suspect: { cause: 'job-finished', sinceMs: at(0).getTime() }, now: at(130) }, 'JobFinished',
      /its job finished on node node-a without the agent completing the request/],
    ['a lost job past the timeout: at once, no grace', { job: 'missing', now: at(700) }, 'TimedOut', /its job is no longer in node node-a's queue/],
  ])('fails %s', (_name, over, reason, message) => {
    const d = staleRequestDecision(input(over));
    expect(d).toMatchObject({ action: 'fail', reason });
    if (d.action === 'fail') expect(d.message).toMatch(message);
  });

  it('a lost request is remembered first, and fails only once it looked lost for the grace', () => {
    const first = staleRequestDecision(input({ job: 'missing', now: at(10) }));
    expect(first).toEqual({ action: 'keep', suspect: { cause: 'job-missing', sinceMs: at(10).getTime() } });
    const suspect = first.action === 'keep' ? first.suspect : undefined;
    expect(staleRequestDecision(input({ job: 'missing', suspect, now: at(129) }))).toEqual({ action: 'keep', suspect });
    expect(staleRequestDecision(input({ job: 'missing', suspect, now: at(130) })).action).toBe('fail');
  });

  it('a different cause starts the grace again; a cause that went away leaves nothing to remember', () => {
    const suspect: Suspect = { cause: 'job-missing', sinceMs: at(10).getTime() };
    expect(staleRequestDecision(input({ job: 'stalled', suspect, now: at(200) }))).toEqual({ action: 'keep', suspect: { cause: 'agent-gone', sinceMs: at(200).getTime() } });
    // The agent came back: the job is active again.
    expect(staleRequestDecision(input({ job: 'active', suspect, now: at(200) }))).toEqual({ action: 'keep' });
  });

  it('Redis unreachable neither starts nor ends a grace', () => {
    const suspect: Suspect = { cause: 'job-missing', sinceMs: at(10).getTime() };
    expect(staleRequestDecision(input({ job: 'unknown', suspect, now: at(500) }))).toEqual({ action: 'keep', suspect });
    expect(staleRequestDecision(input({ job: 'unknown', now: at(500) }))).toEqual({ action: 'keep' });
  });

  it('the timeout counts from the agent’s start when there is one, else from creation', () => {
    const started = request({ phase: 'InProgress', startS: 400 });
    expect(overdue(started, at(1000), MARGIN)).toBe(false);
    expect(overdue(started, at(1001), MARGIN)).toBe(true);
    expect(overdue(request(), at(601), MARGIN)).toBe(true);
    expect(overdue(request({ phase: 'Completed' }), at(100_000), MARGIN)).toBe(false);
    // No time known at all (a hand-made object): never overdue.
    const timeless = { ...request(), metadata: { name: 'x', namespace: 'shop' } };
    expect(overdue(timeless, at(100_000), MARGIN)).toBe(false);
  });
});

describe('staleRequestDecision properties', () => {
  const states: CheckpointJobState[] = ['waiting', 'active', 'stalled', 'delayed', 'completed', 'failed', 'missing', 'unknown'];
  const causes = ['node-gone', 'agent-gone', 'job-missing', 'job-failed', 'job-finished'] as const;
  const world = fc.record({
    phase: fc.constantFrom<CheckpointRequestPhase | undefined>('Pending', 'InProgress', undefined),
    queued: fc.boolean(),
    startS: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: undefined }),
    timeout: fc.option(fc.integer({ min: 1, max: 3600 }), { nil: undefined }),
    margin: fc.integer({ min: 0, max: 3600 }),
    grace: fc.integer({ min: 0, max: 3600 }),
    nodeExists: fc.boolean(),
    suspect: fc.option(fc.record({ cause: fc.constantFrom(...causes), sinceS: fc.integer({ min: 0, max: 20_000 }) }), { nil: undefined }),
    job: fc.constantFrom(...states),
    offsetS: fc.integer({ min: 0, max: 10_000 }),
  });
  type World = typeof world extends fc.Arbitrary<infer T> ? T : never;
  const build = (w: World, nowS: (startedS: number, allowedS: number) => number) => {
    const base = request({ node: w.queued ? 'node-a' : undefined, ...(w.startS !== undefined ? { startS: w.startS } : {}), ...(w.timeout !== undefined ? { timeout: w.timeout } : {}) });
    const r: CheckpointRequest = { ...base, status: { ...base.status, ...(w.phase ? { phase: w.phase } : { phase: undefined }) } };
    const startedS = w.startS ?? 0;
    const allowedS = (w.timeout ?? 300) + w.margin;
    const now = at(nowS(startedS, allowedS));
    return {
      request: r,
      now,
      job: w.queued ? w.job : undefined,
      nodeExists: w.queued ? w.nodeExists : undefined,
      suspect: w.suspect ? { cause: w.suspect.cause, sinceMs: Math.min(at(w.suspect.sinceS).getTime(), now.getTime()) } : undefined,
      marginSeconds: w.margin,
      graceSeconds: w.grace,
    } satisfies StaleInput;
  };

  it('never fails a request whose job is active (its lock held) and within its timeout plus margin', () => {
    fc.assert(
      fc.property(world, (w) => {
        const i = build({ ...w, queued: true, job: 'active' }, (started, allowed) => started + Math.min(w.offsetS, allowed));
        expect(staleRequestDecision(i).action).toBe('keep');
      }),
    );
  });

  it('always fails an unfinished request past its timeout plus margin, unless Redis cannot be asked', () => {
    fc.assert(
      fc.property(world.filter((w) => w.job !== 'unknown'), (w) => {
        const i = build(w, (started, allowed) => started + allowed + 1 + w.offsetS);
        expect(staleRequestDecision(i)).toMatchObject({ action: 'fail', reason: 'TimedOut' });
      }),
    );
  });

  it('never fails anything while Redis is unreachable', () => {
    fc.assert(
      fc.property(world, (w) => {
        const i = build({ ...w, queued: true, job: 'unknown' }, (started, allowed) => started + allowed + w.offsetS);
        expect(staleRequestDecision(i).action).toBe('keep');
      }),
    );
  });

  it('a request that does not look lost, within its timeout, is kept and nothing is remembered', () => {
    fc.assert(
      fc.property(world.filter((w) => ['waiting', 'delayed', 'active'].includes(w.job) && w.nodeExists), (w) => {
        const i = build({ ...w, queued: true }, (started, allowed) => started + Math.min(w.offsetS, allowed));
        expect(staleRequestDecision(i)).toEqual({ action: 'keep' });
      }),
    );
  });
});
