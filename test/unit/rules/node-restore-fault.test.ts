import { describe, expect, it } from 'vitest';
import {
  activeNodeRestoreFault,
  formatNodeRestoreFault,
  newNodeRestoreFault,
  nodeRestoreFaultReason,
  parseNodeRestoreFault,
  type NodeRestoreFault,
} from '../../../src/rules/node-restore-fault.ts';

const NOW = new Date('2026-03-10T12:00:00Z');
const fault: NodeRestoreFault = {
  at: '2026-03-10T12:00:00.000Z',
  why: 'restore is switched off in the node’s CRI-O (enable_criu_support)',
  runtimeVersion: 'cri-o://1.29.0',
  pod: 'apps/db-0',
  checkpoint: 'db-0-app-1',
};

describe('the restore-failed annotation of a Node', () => {
  it('is JSON with the time, the cause, the runtime version, the pod and the checkpoint, in that order', () => {
    const f = newNodeRestoreFault({ now: NOW, why: fault.why, runtimeVersion: 'cri-o://1.29.0', pod: 'apps/db-0', checkpoint: 'db-0-app-1' });
    expect(f).toEqual(fault);
    expect(formatNodeRestoreFault(f)).toBe(
      '{"at":"2026-03-10T12:00:00.000Z","why":"restore is switched off in the node’s CRI-O (enable_criu_support)","runtimeVersion":"cri-o://1.29.0","pod":"apps/db-0","checkpoint":"db-0-app-1"}',
    );
  });

  it('keeps a long cause short', () => {
    const f = newNodeRestoreFault({ now: NOW, why: 'x'.repeat(2000), runtimeVersion: 'cri-o://1.29.0', pod: 'apps/db-0', checkpoint: 'c' });
    expect(f.why.length).toBe(256);
    expect(f.why.endsWith('…')).toBe(true);
  });

  it('reads back what it wrote', () => {
    expect(parseNodeRestoreFault(formatNodeRestoreFault(fault))).toEqual(fault);
  });

  it.each<[string, string | undefined, Partial<NodeRestoreFault> | undefined]>([
    ['absent', undefined, undefined],
    ['empty', '', undefined],
    ['not JSON', 'failed', undefined],
    ['JSON null', 'null', undefined],
    ['a JSON array', '[1]', undefined],
    ['a JSON string', '"x"', undefined],
    ['without at', '{"why":"x","runtimeVersion":"cri-o://1.29.0"}', undefined],
    ['without why', '{"at":"t","runtimeVersion":"cri-o://1.29.0"}', undefined],
    ['without runtimeVersion', '{"at":"t","why":"x"}', undefined],
    ['with a number for runtimeVersion', '{"at":"t","why":"x","runtimeVersion":1}', undefined],
    ['written by hand without pod and checkpoint', '{"at":"t","why":"x","runtimeVersion":"cri-o://1.29.0"}', { at: 't', why: 'x', runtimeVersion: 'cri-o://1.29.0', pod: '', checkpoint: '' }],
  ])('reads %s', (_why, raw, want) => {
    expect(parseNodeRestoreFault(raw)).toEqual(want);
  });

  it.each<[string, string | undefined, boolean]>([
    ['the runtime it failed with', 'cri-o://1.29.0', true],
    ['another version (upgraded since)', 'cri-o://1.30.0', false],
    ['another runtime', 'containerd://2.1.0', false],
    ['no runtime reported', undefined, false],
  ])('applies on a node running %s: %s', (_why, runtimeVersion, applies) => {
    expect(activeNodeRestoreFault(formatNodeRestoreFault(fault), runtimeVersion) !== undefined).toBe(applies);
  });

  it('gives the capability reason, saying how to clear it', () => {
    expect(nodeRestoreFaultReason(fault)).toBe(
      'a restore failed on this node at 2026-03-10T12:00:00.000Z: restore is switched off in the node’s CRI-O (enable_criu_support); remove the annotation restore.kcr.io/restore-failed once fixed',
    );
  });
});
