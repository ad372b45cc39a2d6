// Which pod a checkpoint was taken from, and whether that pod (or any pod of its identity) is
// alive. Pure: the caller passes the living pods as sets of keys.
//
// A StatefulSet pod's or a bare pod's identity is the pod's name: all its checkpoints are that
// pod's, whatever uid each replacement had. A Deployment's identity is shared by all its replicas,
// so each replica (by uid, else by name) is a source pod of its own: the webhook restores a
// replacement only from the checkpoint of a replica that is gone, and never clones a living one.
import type { RetentionCandidate } from './choose.ts';

export interface LivingPods {
  /** uids of pods that are alive (not terminating, not Succeeded/Failed). */
  uids: ReadonlySet<string>;
  /** podNameKey of the same pods. */
  names: ReadonlySet<string>;
  /** identityKey of the same pods' identities (a Deployment replica: the Deployment). */
  identities: ReadonlySet<string>;
}

export const NO_LIVING_PODS: LivingPods = { uids: new Set(), names: new Set(), identities: new Set() };

export function podNameKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** The workload kind is part of an identity: a Deployment `web-0` is not the StatefulSet pod `web-0`. */
export function identityKey(namespace: string, kind: string, identity: string): string {
  return JSON.stringify([namespace, kind, identity]);
}

export function candidateIdentityKey(c: RetentionCandidate): string {
  return identityKey(c.namespace, c.workload?.kind ?? '', c.identity);
}

/**
 * The source pod a checkpoint is kept under, or undefined when its identity names a single pod
 * (StatefulSet pod, bare pod, or a checkpoint that recorded no pod): then identity = pod.
 */
export function sourcePodOf(c: RetentionCandidate): string | undefined {
  const kind = c.workload?.kind;
  if (kind === 'StatefulSet' || kind === 'Pod') return undefined;
  if (c.podUID !== undefined && c.podUID !== '') return `uid:${c.podUID}`;
  if (c.podName !== undefined && c.podName !== '' && c.podName !== c.identity) return `name:${c.podName}`;
  return undefined;
}

/** Whether the pod the checkpoint is kept under is alive (the identity's pod when sourcePodOf is undefined). */
export function sourceAlive(c: RetentionCandidate, living: LivingPods): boolean {
  const source = sourcePodOf(c);
  if (source === undefined) return living.names.has(podNameKey(c.namespace, c.identity));
  // By uid when recorded, as the webhook does: a replica recreated under the same name is another pod.
  if (c.podUID !== undefined && c.podUID !== '') return living.uids.has(c.podUID);
  return living.names.has(podNameKey(c.namespace, c.podName ?? ''));
}
