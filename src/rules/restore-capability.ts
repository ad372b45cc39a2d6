// Which checkpoints a node can restore (DESIGN.md restore rule 5): the runtime that restores from
// an image, its version, and its restore switch as the node's configuration sets it; a restore
// that already failed there for the node's fault (node-restore-fault.ts) keeps it not capable.
// Pure: the node's reported runtime, the configuration files' text, the remembered fault and an
// administrator's override in; the labels' values and the reason out. Read from the runtimes'
// sources (REFERENCE.md):
//   CRI-O ≥ 1.26 restores from an image; enable_criu_support ([crio.runtime]) is off by default
//   before 1.30 and on from 1.30.
//   containerd 2.1.0–2.2.6 and 2.3.0–2.3.3 restore (no switch); 2.2.7+ and 2.3.4+ only with
//   enable_experimental_restore_via_create ([plugins."io.containerd.cri.v1.runtime"]), off by
//   default; 2.0 cannot restore; 2.4 removed it.
import { parse } from 'smol-toml';
import { activeNodeRestoreFault, nodeRestoreFaultReason } from './node-restore-fault.ts';

export const CAPABILITY_LABELS = {
  runtime: 'restore.kcr.io/runtime',
  capable: 'restore.kcr.io/capable',
  /** An administrator's word, "true" or "false": wins over what the agent works out. */
  override: 'restore.kcr.io/capable-override',
} as const;
export const CAPABILITY_REASON_ANNOTATION = 'restore.kcr.io/capable-reason';

export type RestoreRuntime = 'cri-o' | 'containerd';

export interface CapabilityInput {
  /** node.status.nodeInfo.containerRuntimeVersion, e.g. cri-o://1.34.0. */
  containerRuntimeVersion: string | undefined;
  /** CRI-O's configuration files in the order CRI-O reads them (crio.conf, then crio.conf.d/* by name); absent files left out. */
  crioConfig?: readonly string[];
  /** containerd's config.toml, when there is one. */
  containerdConfig?: string;
  /** The node's restore.kcr.io/capable-override label. */
  override?: string;
  /** The node's restore.kcr.io/restore-failed annotation as it is (JSON written by the controller). */
  restoreFailed?: string;
}

export interface Capability {
  runtime: RestoreRuntime | undefined;
  capable: boolean;
  reason: string;
}

/** `cri-o://1.34.0` (node.status.nodeInfo.containerRuntimeVersion) → runtime and version; undefined when unparsable. */
export function parseRuntimeVersion(v: string | undefined): { name: string; version: string } | undefined {
  const m = /^([a-z0-9.-]+):\/\/v?(\S+)$/.exec(v ?? '');
  return m ? { name: m[1]!, version: m[2]! } : undefined;
}

function version(v: string): [number, number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/** The last value of `table.key` the files set (later files override earlier ones), or why none could be read. */
function setting(files: readonly string[], path: string[]): { value?: unknown; error?: string } {
  let value: unknown;
  for (const text of files) {
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (err) {
      return { error: `the runtime's configuration cannot be read: ${(err as Error).message.split('\n')[0]}` };
    }
    let at: unknown = doc;
    for (const p of path) at = typeof at === 'object' && at !== null ? (at as Record<string, unknown>)[p] : undefined;
    if (at !== undefined) value = at;
  }
  return { value };
}

function crio(v: [number, number, number], raw: string, files: readonly string[]): Capability {
  const runtime = 'cri-o';
  if (v[0] !== 1 || v[1] < 26) return { runtime, capable: false, reason: `CRI-O ${raw} cannot restore from a checkpoint image (1.26 and later can)` };
  const defaultOn = v[1] >= 30;
  const { value, error } = setting(files, ['crio', 'runtime', 'enable_criu_support']);
  if (error !== undefined) return { runtime, capable: false, reason: error };
  if (typeof value === 'boolean') {
    return value
      ? { runtime, capable: true, reason: `CRI-O ${raw} with enable_criu_support = true` }
      : { runtime, capable: false, reason: `CRI-O ${raw} with enable_criu_support = false: restore is switched off` };
  }
  return defaultOn
    ? { runtime, capable: true, reason: `CRI-O ${raw}: enable_criu_support is on by default since 1.30` }
    : { runtime, capable: false, reason: `CRI-O ${raw}: enable_criu_support is off by default before 1.30; set it to true under [crio.runtime]` };
}

function containerd(v: [number, number, number], raw: string, file: string | undefined): Capability {
  const runtime = 'containerd';
  const [major, minor, patch] = v;
  if (major !== 2 || minor === 0) return { runtime, capable: false, reason: `containerd ${raw} cannot restore from a checkpoint image (2.1 to 2.3 can)` };
  if (minor >= 4) return { runtime, capable: false, reason: `containerd ${raw}: restore from a checkpoint image was removed in 2.4` };
  const switched = (minor === 2 && patch >= 7) || (minor === 3 && patch >= 4);
  if (!switched) return { runtime, capable: true, reason: `containerd ${raw} restores from checkpoint images` };
  const { value, error } = setting(file === undefined ? [] : [file], ['plugins', 'io.containerd.cri.v1.runtime', 'enable_experimental_restore_via_create']);
  if (error !== undefined) return { runtime, capable: false, reason: error };
  return value === true
    ? { runtime, capable: true, reason: `containerd ${raw} with enable_experimental_restore_via_create = true` }
    : { runtime, capable: false, reason: `containerd ${raw}: restore is off unless enable_experimental_restore_via_create = true under [plugins."io.containerd.cri.v1.runtime"]` };
}

/** An administrator's restore.kcr.io/capable-override label: true or false, undefined when absent or meaningless. */
export function capabilityOverride(label: string | undefined): boolean | undefined {
  const v = label?.trim().toLowerCase();
  return v === 'true' ? true : v === 'false' ? false : undefined;
}

export function restoreCapability(input: CapabilityInput): Capability {
  const reported = parseRuntimeVersion(input.containerRuntimeVersion);
  const raw = reported?.version ?? '';
  const v = version(raw);
  let found: Capability;
  if (reported?.name === 'cri-o' && v) found = crio(v, raw, input.crioConfig ?? []);
  else if (reported?.name === 'containerd' && v) found = containerd(v, raw, input.containerdConfig);
  else found = { runtime: undefined, capable: false, reason: `the node's runtime ${JSON.stringify(input.containerRuntimeVersion ?? '')} does not restore from checkpoint images` };
  // Seen failing with this very runtime: what the configuration says did not hold. An unreadable
  // value or another runtime version (upgraded since) is ignored.
  const fault = activeNodeRestoreFault(input.restoreFailed, input.containerRuntimeVersion);
  if (fault !== undefined) found = { runtime: found.runtime, capable: false, reason: nodeRestoreFaultReason(fault) };
  const override = capabilityOverride(input.override);
  if (override !== undefined) {
    return { runtime: found.runtime, capable: override, reason: `set by an administrator (${CAPABILITY_LABELS.override}=${String(override)}); kcr found: ${found.reason}` };
  }
  return found;
}
