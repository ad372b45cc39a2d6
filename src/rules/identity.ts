// Pod identity: what "the same pod" means across replacements. A checkpoint taken from one
// pod is restored only into a pod with the same identity in the same namespace.
//   StatefulSet pod          -> its stable name (web-0)
//   ReplicaSet-owned pod     -> the Deployment owning the ReplicaSet (else the ReplicaSet)
//   other controller (Job …) -> the controller's name
//   bare pod                 -> its name
import type { IndexedReplicaSet } from './indexed-objects.ts';
import { controllerOf } from './indexed-objects.ts';
import { record, str, stringMap } from './shape.ts';

export interface PodIdentity {
  /** The identity string: kcr.io/identity and Checkpoint spec.identity. */
  identity: string;
  /** What the identity names: 'StatefulSet' | 'Deployment' | 'ReplicaSet' | 'Pod' | another controller kind. */
  kind: string;
  /** The controlling workload's name (the StatefulSet for its pods), or the pod's name. */
  workload: string;
}

export interface ReplicaSetLookup {
  replicaSet(namespace: string, name: string): Pick<IndexedReplicaSet, 'deployment'> | undefined;
}

/**
 * The identity of a pod (its metadata, as in the AdmissionRequest object) in `namespace`.
 * Undefined for a bare or StatefulSet pod without a name yet.
 */
export function podIdentity(metadata: unknown, namespace: string, lookup: ReplicaSetLookup): PodIdentity | undefined {
  const name = str(record(metadata).name);
  const owner = controllerOf(metadata);
  if (owner === undefined) return name === undefined ? undefined : { identity: name, kind: 'Pod', workload: name };
  switch (owner.kind) {
    case 'StatefulSet':
      return name === undefined ? undefined : { identity: name, kind: 'StatefulSet', workload: owner.name };
    case 'ReplicaSet': {
      const deployment = deploymentOf(owner.name, namespace, metadata, lookup);
      return deployment === undefined
        ? { identity: owner.name, kind: 'ReplicaSet', workload: owner.name }
        : { identity: deployment, kind: 'Deployment', workload: deployment };
    }
    default:
      return { identity: owner.name, kind: owner.kind, workload: owner.name };
  }
}

function deploymentOf(replicaSet: string, namespace: string, metadata: unknown, lookup: ReplicaSetLookup): string | undefined {
  const indexed = lookup.replicaSet(namespace, replicaSet);
  if (indexed !== undefined) return indexed.deployment;
  // The ReplicaSet may not have reached the informer yet (a Deployment's first pods): the
  // Deployment controller names it <deployment>-<pod-template-hash> and labels the pods with the hash.
  const hash = stringMap(record(metadata).labels)['pod-template-hash'];
  if (hash !== undefined && replicaSet.endsWith(`-${hash}`) && replicaSet.length > hash.length + 1) {
    return replicaSet.slice(0, -(hash.length + 1));
  }
  return undefined;
}
