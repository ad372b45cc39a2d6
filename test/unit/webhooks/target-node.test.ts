// Migration through the webhook: a pinned checkpoint carrying kcr.io/target-node makes the
// restored pod require that node (node affinity on metadata.name), so the scheduler places a
// controller-made replacement there. Unpinned checkpoints never steer a pod.
import jsonpatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { ANNOTATIONS } from '../../../src/api/types.ts';
import type { AdmissionRequest } from '../../../webhooks/admission.ts';
import { decide } from '../../../webhooks/decision.ts';
import { checkpoint, fixture, indexOf, podOf, REPOSITORIES } from './builders.ts';

const NOW = new Date('2026-11-24T08:00:00Z');
const POLICY = { excludedNamespaces: ['kube-system'], repositories: REPOSITORIES };

function optedIn(): AdmissionRequest {
  const req = fixture('statefulset-pod-create');
  const pod = podOf(req);
  pod.metadata.annotations = { ...pod.metadata.annotations, 'kcr.io/restore': 'true' };
  return req;
}

function dbCp(name: string, annotations: Record<string, string>, pinned: boolean) {
  const cp = checkpoint({ name, identity: 'db-0', container: 'redis', podName: 'db-0', podUID: `old-${name}`, originalImage: 'redis:7.4', pinned });
  cp.metadata.annotations = { ...cp.metadata.annotations, ...annotations };
  return cp;
}

interface Affinity {
  affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: { matchFields?: unknown[]; matchExpressions?: unknown[] }[] } } };
}

function patched(req: AdmissionRequest, cps: unknown[]): Affinity & { containers: { image: string }[] } {
  const d = decide({ request: req, index: indexOf(cps.map((c) => ['Checkpoint', c])), policy: POLICY, now: NOW });
  expect(d.kind).toBe('patch');
  if (d.kind !== 'patch') throw new Error('no patch');
  const pod = jsonpatch.applyPatch(structuredClone(req.object), d.patch, true, false).newDocument as { spec: Affinity & { containers: { image: string }[] } };
  return pod.spec;
}

const nodeField = (node: string) => ({ key: 'metadata.name', operator: 'In', values: [node] });
/** What every restored pod requires (checkpoints without a recorded runtime: any capable node that publishes one). */
const CAN_RESTORE = [
  { key: 'restore.kcr.io/capable', operator: 'In', values: ['true'] },
  { key: 'restore.kcr.io/runtime', operator: 'Exists' },
];

describe('target node of a pinned checkpoint', () => {
  it('adds a required node affinity for the target node', () => {
    const spec = patched(optedIn(), [dbCp('pin', { [ANNOTATIONS.targetNode]: 'node-b' }, true)]);
    expect(spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual([{ matchExpressions: CAN_RESTORE, matchFields: [nodeField('node-b')] }]);
  });

  it('is ignored on an unpinned checkpoint', () => {
    const spec = patched(optedIn(), [dbCp('loose', { [ANNOTATIONS.targetNode]: 'node-b' }, false)]);
    expect(spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual([{ matchExpressions: CAN_RESTORE }]);
  });

  it('adds the node to every existing term (terms are ORed) and keeps their expressions', () => {
    const req = optedIn();
    const pod = req.object as { spec: Affinity };
    const expr = { key: 'zone', operator: 'In', values: ['a'] };
    pod.spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [expr] }, { matchExpressions: [expr] }] } } };
    const spec = patched(req, [dbCp('pin', { [ANNOTATIONS.targetNode]: 'node-b' }, true)]);
    expect(spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual([
      { matchExpressions: [expr, ...CAN_RESTORE], matchFields: [nodeField('node-b')] },
      { matchExpressions: [expr, ...CAN_RESTORE], matchFields: [nodeField('node-b')] },
    ]);
  });

  it('is idempotent: deciding again on the patched pod changes nothing', () => {
    const cps = [dbCp('pin', { [ANNOTATIONS.targetNode]: 'node-b' }, true)];
    const req = optedIn();
    const d1 = decide({ request: req, index: indexOf(cps.map((c) => ['Checkpoint', c])), policy: POLICY, now: NOW });
    if (d1.kind !== 'patch') throw new Error('no patch');
    const again = { ...req, object: jsonpatch.applyPatch(structuredClone(req.object), d1.patch, true, false).newDocument };
    const d2 = decide({ request: again, index: indexOf(cps.map((c) => ['Checkpoint', c])), policy: POLICY, now: NOW });
    expect(d2).toMatchObject({ kind: 'unchanged', reason: 'already-restored' });
  });
});
