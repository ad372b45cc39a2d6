import { describe, expect, it } from 'vitest';
import { capabilityOverride, parseRuntimeVersion, restoreCapability, type CapabilityInput } from '../../../src/rules/restore-capability.ts';

const on = '[crio.runtime]\nenable_criu_support = true\n';
const off = '[crio.runtime]\nenable_criu_support = false\n';
const ctrdOn = 'version = 3\n[plugins."io.containerd.cri.v1.runtime"]\nenable_experimental_restore_via_create = true\n';

describe('restoreCapability: per runtime, version and configuration', () => {
  it.each<[string, CapabilityInput, string | undefined, boolean, RegExp]>([
    ['CRI-O 1.34, no configuration', { containerRuntimeVersion: 'cri-o://1.34.0' }, 'cri-o', true, /on by default since 1\.30/],
    ['CRI-O 1.34 switched off', { containerRuntimeVersion: 'cri-o://1.34.0', crioConfig: [off] }, 'cri-o', false, /enable_criu_support = false/],
    ['CRI-O 1.29 by default', { containerRuntimeVersion: 'cri-o://1.29.0' }, 'cri-o', false, /off by default before 1\.30/],
    ['CRI-O 1.29 switched on', { containerRuntimeVersion: 'cri-o://1.29.0', crioConfig: [on] }, 'cri-o', true, /enable_criu_support = true/],
    ['CRI-O 1.29: a drop-in after crio.conf wins', { containerRuntimeVersion: 'cri-o://1.29.0', crioConfig: [off, on] }, 'cri-o', true, /= true/],
    ['CRI-O 1.34: a drop-in switches it off', { containerRuntimeVersion: 'cri-o://1.34.0', crioConfig: [on, off] }, 'cri-o', false, /= false/],
    ['CRI-O 1.34: a drop-in about something else keeps the default', { containerRuntimeVersion: 'cri-o://1.34.0', crioConfig: ['[crio.image]\npause_image = "x"\n'] }, 'cri-o', true, /by default/],
    ['CRI-O 1.25', { containerRuntimeVersion: 'cri-o://1.25.3', crioConfig: [on] }, 'cri-o', false, /1\.26 and later/],
    ['CRI-O with an unreadable configuration', { containerRuntimeVersion: 'cri-o://1.34.0', crioConfig: ['[crio.runtime\n'] }, 'cri-o', false, /cannot be read/],
    ['containerd 2.1', { containerRuntimeVersion: 'containerd://2.1.0' }, 'containerd', true, /restores from checkpoint images/],
    ['containerd 2.2.6', { containerRuntimeVersion: 'containerd://2.2.6' }, 'containerd', true, /restores/],
    ['containerd 2.2.7 by default', { containerRuntimeVersion: 'containerd://2.2.7' }, 'containerd', false, /enable_experimental_restore_via_create/],
    ['containerd 2.3.3', { containerRuntimeVersion: 'containerd://v2.3.3' }, 'containerd', true, /restores/],
    ['containerd 2.3.4 by default', { containerRuntimeVersion: 'containerd://2.3.4' }, 'containerd', false, /restore is off unless/],
    ['containerd 2.3.4 switched on', { containerRuntimeVersion: 'containerd://2.3.4', containerdConfig: ctrdOn }, 'containerd', true, /= true/],
    ['containerd 2.4', { containerRuntimeVersion: 'containerd://2.4.0', containerdConfig: ctrdOn }, 'containerd', false, /removed in 2\.4/],
    ['containerd 2.0', { containerRuntimeVersion: 'containerd://2.0.5' }, 'containerd', false, /2\.1 to 2\.3/],
    ['containerd 1.7', { containerRuntimeVersion: 'containerd://1.7.27' }, 'containerd', false, /cannot restore/],
    ['another runtime', { containerRuntimeVersion: 'docker://27.0.0' }, undefined, false, /does not restore/],
    ['no runtime reported', { containerRuntimeVersion: undefined }, undefined, false, /does not restore/],
    ['an administrator says yes', { containerRuntimeVersion: 'cri-o://1.29.0', override: 'true' }, 'cri-o', true, /set by an administrator/],
    ['an administrator says no', { containerRuntimeVersion: 'cri-o://1.34.0', override: 'false' }, 'cri-o', false, /set by an administrator/],
    ['a meaningless override is ignored', { containerRuntimeVersion: 'cri-o://1.34.0', override: 'maybe' }, 'cri-o', true, /by default/],
  ])('%s', (_name, input, runtime, capable, reason) => {
    const c = restoreCapability(input);
    expect(c.runtime).toBe(runtime);
    expect(c.capable).toBe(capable);
    expect(c.reason).toMatch(reason);
  });
});

describe('restoreCapability: a restore that failed on the node (restore.kcr.io/restore-failed)', () => {
  const fault = (runtimeVersion: string) =>
    JSON.stringify({ at: '2026-03-10T12:00:00.000Z', why: 'the checkpoint’s base image is not on the node (CRI-O never pulls it)', runtimeVersion, pod: 'apps/db-0', checkpoint: 'c1' });
  const failedHere =
    'a restore failed on this node at 2026-03-10T12:00:00.000Z: the checkpoint’s base image is not on the node (CRI-O never pulls it); remove the annotation restore.kcr.io/restore-failed once fixed';

  it.each<[string, CapabilityInput, boolean, string | RegExp]>([
    ['with the runtime it failed on: not capable, and why', { containerRuntimeVersion: 'cri-o://1.34.0', restoreFailed: fault('cri-o://1.34.0') }, false, failedHere],
    ['on a node the configuration already says cannot: the failure is the reason', { containerRuntimeVersion: 'cri-o://1.29.0', restoreFailed: fault('cri-o://1.29.0') }, false, failedHere],
    ['after a runtime upgrade: ignored', { containerRuntimeVersion: 'cri-o://1.35.0', restoreFailed: fault('cri-o://1.34.0') }, true, /on by default since 1\.30/],
    ['not JSON: ignored', { containerRuntimeVersion: 'cri-o://1.34.0', restoreFailed: 'yes it failed' }, true, /on by default/],
    ['JSON without a runtime version: ignored', { containerRuntimeVersion: 'cri-o://1.34.0', restoreFailed: '{"at":"2026-03-10T12:00:00Z","why":"x"}' }, true, /on by default/],
    ['JSON that is not an object: ignored', { containerRuntimeVersion: 'cri-o://1.34.0', restoreFailed: '["cri-o://1.34.0"]' }, true, /on by default/],
    ['empty: ignored', { containerRuntimeVersion: 'cri-o://1.34.0', restoreFailed: '' }, true, /on by default/],
    ['the node reports no runtime: ignored (and not capable anyway)', { containerRuntimeVersion: undefined, restoreFailed: fault('cri-o://1.34.0') }, false, /does not restore/],
    ['an administrator’s true wins over it', { containerRuntimeVersion: 'cri-o://1.34.0', restoreFailed: fault('cri-o://1.34.0'), override: 'true' }, true,
      /^set by an administrator \(restore\.kcr\.io\/capable-override=true\); kcr found: a restore failed on this node at/],
    ['an administrator’s false too', { containerRuntimeVersion: 'cri-o://1.34.0', restoreFailed: fault('cri-o://1.34.0'), override: 'false' }, false, /set by an administrator/],
  ])('%s', (_name, input, capable, reason) => {
    const c = restoreCapability(input);
    // The runtime label stays what the node runs: the fault is about restoring, not the runtime.
    expect(c.runtime).toBe(input.containerRuntimeVersion === undefined ? undefined : 'cri-o');
    expect(c.capable).toBe(capable);
    if (typeof reason === 'string') expect(c.reason).toBe(reason);
    else expect(c.reason).toMatch(reason);
  });
});

describe('capabilityOverride', () => {
  it.each([['true', true], [' TRUE ', true], ['false', false], ['maybe', undefined], ['', undefined], [undefined, undefined]] as const)('%s', (label, want) => {
    expect(capabilityOverride(label)).toBe(want);
  });
});

describe('parseRuntimeVersion', () => {
  it.each([
    ['cri-o://1.34.0', { name: 'cri-o', version: '1.34.0' }],
    ['containerd://2.1.0', { name: 'containerd', version: '2.1.0' }],
    ['containerd://v2.3.4', { name: 'containerd', version: '2.3.4' }],
    ['', undefined],
    [undefined, undefined],
    ['cri-o', undefined],
  ])('%s', (raw, want) => {
    expect(parseRuntimeVersion(raw)).toEqual(want);
  });
});
