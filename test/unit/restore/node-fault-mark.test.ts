import type { V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { nodeFaultMark, replaceAfterNodeFault, type NodeLike } from '../../../src/restore/node-fault-mark.ts';
import { formatNodeRestoreFault, nodeRestoreFaultReason } from '../../../src/rules/node-restore-fault.ts';

// client-node's V1Node must be accepted as it is.
const _v1NodeFits: NodeLike = {} as V1Node;

const NOW = new Date('2026-03-10T12:00:00Z');
const EARLIER = '2026-03-10T11:00:00.000Z';
const failure = { namespace: 'apps', pod: 'db-0', checkpoint: 'c1', why: 'the checkpoint’s base image is not on the node (CRI-O never pulls it)' };
const json = (o: { at?: string; pod?: string; checkpoint?: string; runtimeVersion?: string } = {}) =>
  formatNodeRestoreFault({ at: o.at ?? NOW.toISOString(), why: failure.why, runtimeVersion: o.runtimeVersion ?? 'cri-o://1.34.0', pod: o.pod ?? 'apps/db-0', checkpoint: o.checkpoint ?? 'c1' });

function node(o: { labels?: Record<string, string>; annotations?: Record<string, string>; runtimeVersion?: string | null } = {}): NodeLike {
  return {
    metadata: { name: 'node-1', uid: 'n-uid', labels: { 'restore.kcr.io/capable': 'true', ...o.labels }, annotations: { ...o.annotations } },
    status: { nodeInfo: o.runtimeVersion === null ? {} : { containerRuntimeVersion: o.runtimeVersion ?? 'cri-o://1.34.0' } },
  };
}

const mark = (n: NodeLike | undefined, over: { nodeName?: string; podPlacedMs?: number | undefined } = {}) =>
  nodeFaultMark({ nodeName: over.nodeName ?? 'node-1', node: n, failure, podPlacedMs: 'podPlacedMs' in over ? over.podPlacedMs : NOW.getTime() - 60_000, now: NOW });

describe('nodeFaultMark: what is written on the Node', () => {
  it('the annotation, and at once capable=false with the reason the agent works out from it', () => {
    const m = mark(node());
    expect(m).toEqual({
      ok: true,
      fault: { at: '2026-03-10T12:00:00.000Z', why: failure.why, runtimeVersion: 'cri-o://1.34.0', pod: 'apps/db-0', checkpoint: 'c1' },
      patch: {
        metadata: {
          labels: { 'restore.kcr.io/capable': 'false' },
          annotations: {
            'restore.kcr.io/restore-failed': json(),
            'restore.kcr.io/capable-reason': `a restore failed on this node at 2026-03-10T12:00:00.000Z: ${failure.why}; remove the annotation restore.kcr.io/restore-failed once fixed`,
          },
        },
      },
      forcedCapable: false,
      markedBefore: false,
    });
  });

  it.each([['true', true], ['false', false]] as const)('with an administrator’s override=%s: only the annotation (the override decides the label)', (override, forced) => {
    const m = mark(node({ labels: { 'restore.kcr.io/capable-override': override } }));
    expect(m).toMatchObject({ ok: true, forcedCapable: forced, patch: { metadata: { annotations: { 'restore.kcr.io/restore-failed': json() } } } });
    expect(m.ok && m.patch?.metadata.labels).toBeUndefined();
    expect(m.ok && Object.keys(m.patch!.metadata.annotations)).toEqual(['restore.kcr.io/restore-failed']);
  });

  it.each<[string, NodeLike | undefined, string, RegExp]>([
    ['the pod is bound to no node', node(), '', /bound to no node/],
    ['the node is not in the cache', undefined, 'node-1', /node node-1 is not known/],
    ['the node reports no runtime version (the fault could never match it again)', node({ runtimeVersion: null }), 'node-1', /reports no container runtime version/],
  ])('cannot mark when %s', (_why, n, nodeName, why) => {
    const m = mark(n, { nodeName });
    expect(m.ok).toBe(false);
    if (!m.ok) expect(m.why).toMatch(why);
  });
});

describe('nodeFaultMark: a node marked before', () => {
  const placed = Date.parse('2026-03-10T11:30:00Z');
  it.each<[string, Record<string, string>, number | undefined, boolean]>([
    ['no mark', {}, placed, false],
    ['marked before the pod was placed there (whatever placed it ignored the mark)', { 'restore.kcr.io/restore-failed': json({ at: EARLIER, pod: 'apps/other' }) }, placed, true],
    ['marked after the pod was placed (admitted before the mark)', { 'restore.kcr.io/restore-failed': json({ at: '2026-03-10T11:45:00.000Z', pod: 'apps/other' }) }, placed, false],
    ['marked, and the pod’s placement unknown: counted as before (never a loop)', { 'restore.kcr.io/restore-failed': json({ at: EARLIER }) }, undefined, true],
    ['marked for another runtime version (upgraded since): no mark', { 'restore.kcr.io/restore-failed': json({ at: EARLIER, runtimeVersion: 'cri-o://1.33.0' }) }, placed, false],
    ['an unreadable mark: no mark', { 'restore.kcr.io/restore-failed': 'garbage' }, placed, false],
  ])('%s', (_why, annotations, podPlacedMs, markedBefore) => {
    const m = mark(node({ annotations }), { podPlacedMs });
    expect(m.ok && m.markedBefore).toBe(markedBefore);
  });

  it('a pass handling the same failure again writes nothing and keeps the first time', () => {
    const first = json({ at: '2026-03-10T11:59:00.000Z' });
    const fault = { at: '2026-03-10T11:59:00.000Z', why: failure.why, runtimeVersion: 'cri-o://1.34.0', pod: 'apps/db-0', checkpoint: 'c1' };
    const marked = node({
      labels: { 'restore.kcr.io/capable': 'false' },
      annotations: { 'restore.kcr.io/restore-failed': first, 'restore.kcr.io/capable-reason': nodeRestoreFaultReason(fault) },
    });
    expect(mark(marked, { podPlacedMs: Date.parse('2026-03-10T11:58:00Z') })).toEqual({ ok: true, fault, patch: undefined, forcedCapable: false, markedBefore: false });
    // The agent has not relabelled it yet: the label and reason are written, with the first time.
    const unlabelled = node({ annotations: { 'restore.kcr.io/restore-failed': first } });
    const m = mark(unlabelled, { podPlacedMs: Date.parse('2026-03-10T11:58:00Z') });
    expect(m.ok && m.patch?.metadata).toEqual({
      labels: { 'restore.kcr.io/capable': 'false' },
      annotations: { 'restore.kcr.io/restore-failed': first, 'restore.kcr.io/capable-reason': nodeRestoreFaultReason(fault) },
    });
  });

  it('another pod failing there later writes its own fault', () => {
    const m = mark(node({ annotations: { 'restore.kcr.io/restore-failed': json({ at: EARLIER, pod: 'apps/db-1' }) } }), { podPlacedMs: Date.parse('2026-03-10T10:00:00Z') });
    expect(m).toMatchObject({ ok: true, markedBefore: false, fault: { at: NOW.toISOString(), pod: 'apps/db-0' } });
  });
});

describe('replaceAfterNodeFault', () => {
  const base = { controllerOwned: true, restoredInPlace: false, marked: true, forcedCapable: false, markedBefore: false };
  it.each<[string, Partial<typeof base>, RegExp | undefined]>([
    ['a controller-owned pod on a node now marked: replaced', {}, undefined],
    ['a bare pod: fresh in place', { controllerOwned: false }, /no controller would replace/],
    ['a container restored in place: fresh in place', { restoredInPlace: true }, /restored in place/],
    ['the node could not be marked: fresh in place', { marked: false }, /could not be marked/],
    ['an administrator forces the node capable: fresh in place (a replacement would land there again)', { forcedCapable: true }, /capable-override=true/],
    ['the node was marked before the pod came: fresh in place (replacing would loop)', { markedBefore: true }, /already marked/],
  ])('%s', (_why, over, notReplaced) => {
    const c = replaceAfterNodeFault({ ...base, ...over });
    if (notReplaced === undefined) expect(c).toEqual({ replace: true });
    else expect(c).toEqual({ replace: false, why: expect.stringMatching(notReplaced) });
  });
});
