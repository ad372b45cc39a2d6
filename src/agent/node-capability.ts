// The agent publishes what its own node can restore, as labels the webhook and the scheduler can
// read: restore.kcr.io/runtime and restore.kcr.io/capable, with the reason in an annotation. The
// decision is src/rules/restore-capability.ts; this shell reads the node and the runtime's
// configuration files (mounted read-only from the host) and patches only what changed. The
// controller's restore.kcr.io/restore-failed annotation is read, never written: while it applies
// the node stays not capable, so this loop does not flip the label back.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { RESTORE_FAILED_ANNOTATION } from '../rules/node-restore-fault.ts';
import { CAPABILITY_LABELS, CAPABILITY_REASON_ANNOTATION, restoreCapability, type Capability } from '../rules/restore-capability.ts';
import type { AgentKube } from './agent-kube.ts';

export interface RuntimeConfigPaths {
  /** CRI-O's main file (e.g. /etc/crio/crio.conf). */
  crioConfig: string;
  /** CRI-O's drop-in folder (e.g. /etc/crio/crio.conf.d), read in name order after the main file. */
  crioConfigDir: string;
  /** containerd's config.toml. */
  containerdConfig: string;
}

async function readIfThere(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** The runtime's configuration as it would read it; files that are not there are left out. */
export async function readRuntimeConfig(paths: RuntimeConfigPaths): Promise<{ crio: string[]; containerd: string | undefined }> {
  const crio: string[] = [];
  const main = await readIfThere(paths.crioConfig);
  if (main !== undefined) crio.push(main);
  const dropIns = await readdir(paths.crioConfigDir).catch(() => [] as string[]);
  for (const f of dropIns.filter((f) => f.endsWith('.conf')).sort()) {
    const text = await readIfThere(join(paths.crioConfigDir, f));
    if (text !== undefined) crio.push(text);
  }
  return { crio, containerd: await readIfThere(paths.containerdConfig) };
}

/** Works out and publishes the node's restore capability; returns it. Changes nothing when the labels say so already. */
export async function publishNodeCapability(deps: { node: string; kube: Pick<AgentKube, 'getNode' | 'patchNodeMetadata'>; paths: RuntimeConfigPaths; log: Logger }): Promise<Capability> {
  const node = await deps.kube.getNode(deps.node);
  const config = await readRuntimeConfig(deps.paths);
  const labels = node.metadata?.labels ?? {};
  const restoreFailed = node.metadata?.annotations?.[RESTORE_FAILED_ANNOTATION];
  const capability = restoreCapability({
    containerRuntimeVersion: node.status?.nodeInfo?.containerRuntimeVersion,
    crioConfig: config.crio,
    ...(config.containerd !== undefined ? { containerdConfig: config.containerd } : {}),
    ...(labels[CAPABILITY_LABELS.override] !== undefined ? { override: labels[CAPABILITY_LABELS.override] } : {}),
    ...(restoreFailed !== undefined ? { restoreFailed } : {}),
  });
  const want = { [CAPABILITY_LABELS.runtime]: capability.runtime ?? null, [CAPABILITY_LABELS.capable]: String(capability.capable) };
  const same =
    (labels[CAPABILITY_LABELS.runtime] ?? null) === want[CAPABILITY_LABELS.runtime] &&
    labels[CAPABILITY_LABELS.capable] === want[CAPABILITY_LABELS.capable] &&
    node.metadata?.annotations?.[CAPABILITY_REASON_ANNOTATION] === capability.reason;
  if (!same) {
    await deps.kube.patchNodeMetadata(deps.node, { labels: want, annotations: { [CAPABILITY_REASON_ANNOTATION]: capability.reason } });
    deps.log.info({ node: deps.node, runtime: capability.runtime, capable: capability.capable, reason: capability.reason }, 'published the node’s restore capability');
  }
  return capability;
}
