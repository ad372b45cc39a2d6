// The one fit check webhook, RestoreRequests and in-place restores share (DESIGN rule 5), as a
// table over what nodes' labels say and what checkpoints need.
import { describe, expect, it } from 'vitest';
import { nodeMisfit, nodeRestoreFacts, nodeTakesRestore, placementRequirements, type NodeRestoreFacts, type RestoreNeed } from '../../../src/rules/restore-fit.ts';

const node = (o: Partial<NodeRestoreFacts> = {}): NodeRestoreFacts => ({ name: 'n1', runtime: 'cri-o', capable: 'true', architecture: 'amd64', ...o });
const need = (o: Partial<RestoreNeed> = {}): RestoreNeed => ({ runtime: 'cri-o', architecture: 'amd64', ...o });

describe('nodeMisfit', () => {
  it.each<[string, NodeRestoreFacts, RestoreNeed, RegExp | undefined]>([
    ['a capable node of the runtime and architecture', node(), need(), undefined],
    ['a checkpoint that recorded neither runtime nor architecture, on any capable node', node({ runtime: 'containerd', architecture: 'arm64' }), need({ runtime: undefined, architecture: undefined }), undefined],
    ['restore off', node({ capable: 'false' }), need(), /node n1 cannot restore checkpoints \(restore\.kcr\.io\/capable=false\)/],
    ['no agent yet (no labels)', node({ capable: undefined, runtime: undefined }), need(), /capable=unset/],
    ['a capable value other than "true"', node({ capable: 'yes' }), need(), /capable=yes/],
    ['capable but no runtime label', node({ runtime: undefined }), need({ runtime: undefined }), /has no restore\.kcr\.io\/runtime label/],
    ['the other runtime', node({ runtime: 'containerd' }), need(), /runs containerd, but the checkpoint was written by cri-o/],
    ['another architecture', node({ architecture: 'arm64' }), need(), /is arm64, but the checkpoint was taken on amd64/],
    ['no architecture label when the checkpoint has one', node({ architecture: undefined }), need(), /of no known architecture/],
  ])('%s', (_name, n, want, misfit) => {
    const got = nodeMisfit(n, want);
    if (misfit === undefined) expect(got).toBeUndefined();
    else expect(got).toMatch(misfit);
  });

  it('a cordoned node fits but takes no new restore', () => {
    expect(nodeMisfit(node({ unschedulable: true }), need())).toBeUndefined();
    expect(nodeTakesRestore(node({ unschedulable: true }), need())).toBe(false);
    expect(nodeTakesRestore(node(), need())).toBe(true);
  });
});

describe('nodeRestoreFacts', () => {
  it('reads the labels and spec.unschedulable of a Node; a Node without a name is none', () => {
    expect(nodeRestoreFacts({ metadata: { name: 'w1', labels: { 'restore.kcr.io/runtime': 'containerd', 'restore.kcr.io/capable': 'false', 'kubernetes.io/arch': 'arm64' } }, spec: { unschedulable: true } }))
      .toEqual({ name: 'w1', runtime: 'containerd', capable: 'false', architecture: 'arm64', unschedulable: true });
    expect(nodeRestoreFacts({ metadata: {} })).toBeUndefined();
  });
});

describe('placementRequirements', () => {
  it('capable and the runtime; Exists for a checkpoint that did not record its runtime', () => {
    expect(placementRequirements('cri-o')).toEqual([
      { key: 'restore.kcr.io/capable', operator: 'In', values: ['true'] },
      { key: 'restore.kcr.io/runtime', operator: 'In', values: ['cri-o'] },
    ]);
    expect(placementRequirements(undefined)[1]).toEqual({ key: 'restore.kcr.io/runtime', operator: 'Exists' });
  });
});
