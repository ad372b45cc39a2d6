import jsonpatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { applyPlan, restorePatch, type RestorePlan } from '../../../webhooks/patch.ts';

const plan: RestorePlan = {
  containers: [{ index: 1, name: 'b', checkpoint: 'cp-b', image: 'reg/x@sha256:1', baseImage: 'b:1' }],
  identity: 'web-0',
  architecture: 'arm64',
  runtime: 'cri-o',
  claimHolder: 'req-1',
  pullSecretName: 'kcr-registry',
};

describe('restorePatch', () => {
  it('applied to the pod gives exactly the planned pod, leaving other containers and fields alone', () => {
    const pod = {
      metadata: { name: 'web-0', annotations: { 'a/b~c': 'keep' } },
      spec: { containers: [{ name: 'a', image: 'a:1' }, { name: 'b', image: 'b:1' }], nodeSelector: { disk: 'ssd' }, imagePullSecrets: [{ name: 'own' }] },
    };
    const patch = restorePatch(pod, plan);
    const result = jsonpatch.applyPatch(structuredClone(pod), patch, true, false).newDocument;
    expect(result).toEqual({
      metadata: { name: 'web-0', annotations: { 'a/b~c': 'keep', 'kcr.io/restored-from.b': 'cp-b', 'kcr.io/restored-from': 'cp-b', 'kcr.io/identity': 'web-0', 'kcr.io/claim-holder': 'req-1' } },
      spec: {
        containers: [{ name: 'a', image: 'a:1' }, { name: 'b', image: 'reg/x@sha256:1', imagePullPolicy: 'IfNotPresent' }],
        nodeSelector: { disk: 'ssd', 'kubernetes.io/arch': 'arm64' },
        imagePullSecrets: [{ name: 'own' }, { name: 'kcr-registry' }],
        // Nothing mounts it: the kubelet pulls it with the pod's pull secrets before any container starts.
        volumes: [{ name: 'kcr-base-1', image: { reference: 'b:1', pullPolicy: 'IfNotPresent' } }],
        // Only a node that can restore a CRI-O checkpoint.
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [
          { key: 'restore.kcr.io/capable', operator: 'In', values: ['true'] },
          { key: 'restore.kcr.io/runtime', operator: 'In', values: ['cri-o'] },
        ] }] } } },
      },
    });
    expect(pod.spec.containers[1]!.image).toBe('b:1');
    expect(restorePatch(result, plan)).toEqual([]);
  });

  it('replaces non-object annotations, node selector and pull secrets instead of failing', () => {
    const pod = { metadata: { annotations: 'x' }, spec: { containers: [{ name: 'a' }, { name: 'b', image: 'b:1' }], nodeSelector: null, imagePullSecrets: 'no' } };
    const out = applyPlan(pod, plan);
    expect(out).toMatchObject({ metadata: { annotations: { 'kcr.io/identity': 'web-0' } }, spec: { nodeSelector: { 'kubernetes.io/arch': 'arm64' }, imagePullSecrets: [{ name: 'kcr-registry' }] } });
    const result = jsonpatch.applyPatch(structuredClone(pod), restorePatch(pod, plan), true, false).newDocument;
    expect(result).toEqual(out);
  });
});
