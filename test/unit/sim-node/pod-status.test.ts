// The pod status the simulated kubelet reports: phase rules and conditions, as the kubelet has them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildPodStatus, podPhase, type ContainerRecord, type ContainerState } from '../../cluster/sim-node/pod-status.ts';

const running: ContainerState = { running: { startedAt: '2026-11-24T07:00:00Z' } };
const waiting = (reason: string): ContainerState => ({ waiting: { reason } });
const exited = (exitCode: number): ContainerState => ({ terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: '2026-11-24T07:00:00Z', finishedAt: '2026-11-24T07:01:00Z' } });

function rec(name: string, state: ContainerState, over: Partial<ContainerRecord> = {}): ContainerRecord {
  return { name, image: 'i:1', imageID: 'docker.io/library/i@sha256:' + '0'.repeat(64), state, restartCount: 0, ready: 'running' in state, ...over };
}

const base = { hostIP: '192.0.2.2', podIP: '10.244.11.2', startTime: '2026-11-24T07:00:00Z', restartPolicy: 'Always', initContainers: [], previousConditions: [], now: new Date('2026-11-24T07:05:00.123Z') };

describe('pod phase', () => {
  it.each([
    ['all running', [rec('a', running)], 'Always', 'Running'],
    ['still pulling', [rec('a', waiting('ContainerCreating'))], 'Always', 'Pending'],
    ['restore failing, never ran', [rec('a', waiting('CreateContainerError'))], 'Always', 'Pending'],
    ['crashed and waiting to restart', [rec('a', waiting('CrashLoopBackOff'), { restartCount: 2 })], 'Always', 'Running'],
    ['one running, one pulling', [rec('a', running), rec('b', waiting('ErrImagePull'))], 'Always', 'Running'],
    ['all exited 0, never restart', [rec('a', exited(0))], 'Never', 'Succeeded'],
    ['one exited 1, never restart', [rec('a', exited(0)), rec('b', exited(1))], 'Never', 'Failed'],
    ['exited, will restart', [rec('a', exited(1))], 'Always', 'Running'],
  ] as const)('%s -> %s', (_what, containers, restartPolicy, phase) => {
    expect(podPhase({ containers: [...containers], restartPolicy })).toBe(phase);
  });
});

describe('pod status', () => {
  it('Ready and ContainersReady follow the containers; addresses and statuses are reported', () => {
    const s = buildPodStatus({ ...base, containers: [rec('a', running), rec('b', waiting('ImagePullBackOff'))] });
    const conds = s.conditions as { type: string; status: string; message?: string }[];
    expect(conds.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', message: 'containers with unready status: [b]' });
    expect(conds.find((c) => c.type === 'ContainersReady')!.status).toBe('False');
    expect(conds.find((c) => c.type === 'PodScheduled')!.status).toBe('True');
    expect(s).toMatchObject({ phase: 'Running', hostIP: '192.0.2.2', podIP: '10.244.11.2', podIPs: [{ ip: '10.244.11.2' }] });
    const cs = s.containerStatuses as { name: string; started: boolean; ready: boolean }[];
    expect(cs.map((c) => [c.name, c.started, c.ready])).toEqual([['a', true, true], ['b', false, false]]);
  });

  it('keeps a condition transition time while its status is unchanged, and moves it when it flips', () => {
    const earlier = '2026-11-24T06:00:00Z';
    const prev = [{ type: 'Ready', status: 'True', lastTransitionTime: earlier }, { type: 'Initialized', status: 'True', lastTransitionTime: earlier }];
    const still = buildPodStatus({ ...base, previousConditions: prev, containers: [rec('a', running)] });
    const flipped = buildPodStatus({ ...base, previousConditions: prev, containers: [rec('a', waiting('CrashLoopBackOff'), { restartCount: 1 })] });
    const t = (s: Record<string, unknown>, type: string) => (s.conditions as { type: string; lastTransitionTime: string }[]).find((c) => c.type === type)!.lastTransitionTime;
    expect(t(still, 'Ready')).toBe(earlier);
    expect(t(flipped, 'Ready')).toBe('2026-11-24T07:05:00Z');
    expect(t(flipped, 'Initialized')).toBe(earlier);
  });

  it('the pod is Ready exactly when every container is ready (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }), (readies) => {
        const containers = readies.map((r, i) => rec(`c${i}`, r ? running : waiting('ContainerCreating')));
        const s = buildPodStatus({ ...base, containers });
        const ready = (s.conditions as { type: string; status: string }[]).find((c) => c.type === 'Ready')!.status;
        expect(ready).toBe(readies.every(Boolean) ? 'True' : 'False');
      }),
    );
  });
});
