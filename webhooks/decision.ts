// CONTRACT STUB (to be implemented): the restore decision, a pure function.
// DESIGN.md restore rules 1-6. Input: the AdmissionRequest, the index snapshot
// (namespace labels, schedules, workloads, pods, checkpoints), the policy, now.
// Output: allow-with-patch or allow-unchanged with a reason; never a denial.
import type { Operation as JsonPatchOperation } from 'fast-json-patch';
import type { AdmissionRequest } from './admission.ts';
import type { RestoreIndex } from './restore-index.ts';

export interface RestorePolicy {
  /** Name of the dockerconfigjson Secret added to restored pods' imagePullSecrets (per namespace). */
  pullSecretName?: string;
  /** Namespaces never mutated (kube-system, kcr's own). */
  excludedNamespaces: string[];
}

export interface RestoredContainer {
  container: string;
  checkpoint: string;
  image: string;
}

export type Decision =
  | { kind: 'patch'; reason: string; patch: JsonPatchOperation[]; restored: RestoredContainer[] }
  | { kind: 'unchanged'; reason: string };

export interface DecisionInput {
  request: AdmissionRequest;
  index: RestoreIndex;
  policy: RestorePolicy;
  now: Date;
}

export function decide(_input: DecisionInput): Decision {
  return { kind: 'unchanged', reason: 'not-implemented' };
}
