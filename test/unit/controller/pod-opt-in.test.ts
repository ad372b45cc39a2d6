// The controller's opt-in check: the webhook's surfaces and precedence over the controller's cache.
import { describe, expect, it } from 'vitest';
import { ANNOTATIONS, NAMESPACE_LABEL } from '../../../src/api/types.ts';
import { ObjectCache } from '../../../src/controller/object-cache.ts';
import { identityOfPod, podOptedIn } from '../../../src/controller/pod-opt-in.ts';

const sts = [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'u', controller: true }];

function pod(annotations: Record<string, string> = {}, labels: Record<string, string> = { app: 'web' }) {
  return { metadata: { name: 'web-0', namespace: 'shop', labels, annotations, ownerReferences: sts } };
}

function cache(objects: Array<[kind: 'Namespace' | 'CheckpointSchedule' | 'StatefulSet', obj: unknown]> = []): ObjectCache {
  const c = new ObjectCache();
  for (const [kind, obj] of objects) c.upsert(kind, obj);
  return c;
}

const labelled = ['Namespace', { metadata: { name: 'shop', labels: { [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value } } }] as const;
const schedule = (mode?: string) =>
  ['CheckpointSchedule', { metadata: { name: 's', namespace: 'shop', uid: 's' }, spec: { schedule: '* * * * *', selector: { matchLabels: { app: 'web' } }, ...(mode ? { restore: { mode } } : {}) } }] as const;
const annotatedSts = ['StatefulSet', { metadata: { name: 'web', namespace: 'shop', uid: 'w', annotations: { [ANNOTATIONS.workloadSchedule]: '*/5 * * * *' } } }] as const;

describe('podOptedIn (controller cache)', () => {
  it.each<[string, Array<[kind: 'Namespace' | 'CheckpointSchedule' | 'StatefulSet', obj: unknown]>, Record<string, string>, boolean]>([
    ['nothing', [], {}, false],
    ['pod annotation', [], { [ANNOTATIONS.restore]: 'true' }, true],
    ['namespace label', [[...labelled]], {}, true],
    ['a selecting schedule', [[...schedule()]], {}, true],
    ['a schedule with restore.mode Never', [[...schedule('Never')]], {}, false],
    ['the workload annotation', [[...annotatedSts]], {}, true],
    ['"false" on the pod wins over everything', [[...labelled], [...schedule()], [...annotatedSts]], { [ANNOTATIONS.restore]: 'false' }, false],
  ])('%s', (_what, objects, annotations, want) => {
    expect(podOptedIn(cache(objects), pod(annotations))).toBe(want);
  });

  it('another namespace\'s label or schedule does not opt the pod in', () => {
    const other = cache([
      ['Namespace', { metadata: { name: 'other', labels: { [NAMESPACE_LABEL.key]: NAMESPACE_LABEL.value } } }],
      ['CheckpointSchedule', { metadata: { name: 's', namespace: 'other', uid: 's' }, spec: { selector: { matchLabels: { app: 'web' } } } }],
    ]);
    expect(podOptedIn(other, pod())).toBe(false);
  });

  it('identity is the StatefulSet pod name', () => {
    expect(identityOfPod(pod())).toBe('web-0');
  });
});
