import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Node } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { publishNodeCapability, readRuntimeConfig } from '../../../src/agent/node-capability.ts';
import { silentLogger } from '../../../src/log.ts';
import { formatNodeRestoreFault, nodeRestoreFaultReason } from '../../../src/rules/node-restore-fault.ts';

const dir = mkdtempSync(join(tmpdir(), 'kcr-capability-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const paths = { crioConfig: join(dir, 'crio.conf'), crioConfigDir: join(dir, 'crio.conf.d'), containerdConfig: join(dir, 'config.toml') };

function fakeKube(node: V1Node) {
  const patches: object[] = [];
  return {
    patches,
    kube: {
      getNode: async () => node,
      patchNodeMetadata: async (_name: string, metadata: object) => void patches.push(metadata),
    },
  };
}

describe('node capability: the shell around restoreCapability', () => {
  it('reads crio.conf, then the drop-ins in name order; files that are not there are left out', async () => {
    expect(await readRuntimeConfig(paths)).toEqual({ crio: [], containerd: undefined });
    writeFileSync(paths.crioConfig, 'main');
    mkdirSync(paths.crioConfigDir);
    writeFileSync(join(paths.crioConfigDir, '20-b.conf'), 'b');
    writeFileSync(join(paths.crioConfigDir, '10-a.conf'), 'a');
    writeFileSync(join(paths.crioConfigDir, 'README'), 'not a drop-in');
    expect(await readRuntimeConfig(paths)).toEqual({ crio: ['main', 'a', 'b'], containerd: undefined });
    rmSync(paths.crioConfigDir, { recursive: true });
    rmSync(paths.crioConfig);
  });

  it('publishes the labels and the reason once, and patches nothing when they are current', async () => {
    writeFileSync(paths.crioConfig, '[crio.runtime]\nenable_criu_support = true\n');
    const node: V1Node = { metadata: { name: 'n1', labels: {} }, status: { nodeInfo: { containerRuntimeVersion: 'cri-o://1.29.0' } as never } };
    const { kube, patches } = fakeKube(node);
    const c = await publishNodeCapability({ node: 'n1', kube, paths, log: silentLogger() });
    expect(c).toMatchObject({ runtime: 'cri-o', capable: true });
    expect(patches).toEqual([
      { labels: { 'restore.kcr.io/runtime': 'cri-o', 'restore.kcr.io/capable': 'true' }, annotations: { 'restore.kcr.io/capable-reason': 'CRI-O 1.29.0 with enable_criu_support = true' } },
    ]);
    node.metadata!.labels = { 'restore.kcr.io/runtime': 'cri-o', 'restore.kcr.io/capable': 'true' };
    node.metadata!.annotations = { 'restore.kcr.io/capable-reason': 'CRI-O 1.29.0 with enable_criu_support = true' };
    await publishNodeCapability({ node: 'n1', kube, paths, log: silentLogger() });
    expect(patches).toHaveLength(1);
    rmSync(paths.crioConfig);
  });

  it('keeps a node the controller marked (restore.kcr.io/restore-failed) not capable: the periodic publish does not flip it back', async () => {
    const fault = { at: '2026-03-10T12:00:00.000Z', why: 'restore is off', runtimeVersion: 'cri-o://1.34.0', pod: 'apps/db-0', checkpoint: 'c1' };
    const reason = nodeRestoreFaultReason(fault);
    // As the controller left it: capable=false and the reason, on a node whose configuration says it can restore.
    const node: V1Node = {
      metadata: {
        name: 'n3',
        labels: { 'restore.kcr.io/runtime': 'cri-o', 'restore.kcr.io/capable': 'false' },
        annotations: { 'restore.kcr.io/restore-failed': formatNodeRestoreFault(fault), 'restore.kcr.io/capable-reason': reason },
      },
      status: { nodeInfo: { containerRuntimeVersion: 'cri-o://1.34.0' } as never },
    };
    const { kube, patches } = fakeKube(node);
    expect(await publishNodeCapability({ node: 'n3', kube, paths, log: silentLogger() })).toEqual({ runtime: 'cri-o', capable: false, reason });
    expect(patches).toEqual([]);
    // After a runtime upgrade the mark no longer applies; the agent never removes it.
    node.status!.nodeInfo!.containerRuntimeVersion = 'cri-o://1.35.0';
    await publishNodeCapability({ node: 'n3', kube, paths, log: silentLogger() });
    expect(patches).toEqual([
      { labels: { 'restore.kcr.io/runtime': 'cri-o', 'restore.kcr.io/capable': 'true' }, annotations: { 'restore.kcr.io/capable-reason': 'CRI-O 1.35.0: enable_criu_support is on by default since 1.30' } },
    ]);
  });

  it('removes the runtime label of a node whose runtime restores nothing', async () => {
    const node: V1Node = { metadata: { name: 'n2', labels: { 'restore.kcr.io/runtime': 'cri-o' } }, status: { nodeInfo: { containerRuntimeVersion: 'docker://27.0.0' } as never } };
    const { kube, patches } = fakeKube(node);
    await publishNodeCapability({ node: 'n2', kube, paths, log: silentLogger() });
    expect(patches[0]).toMatchObject({ labels: { 'restore.kcr.io/runtime': null, 'restore.kcr.io/capable': 'false' } });
  });
});
