// Writing claims (src/rules/checkpoint-claim.ts): a merge patch of the kcr.io/claim annotation
// that carries the resourceVersion the decision saw, so the API server applies it only if the
// Checkpoint did not change meanwhile. On a conflict the Checkpoint is read again: claimed by
// another pod meanwhile means taken; changed for another reason (status, another annotation),
// the claim is written again on the new version. Every object read goes into the index, so the
// next decision here sees the claim at once, before the informer delivers it.
import { CLAIM_ANNOTATION, claimBlocks, claimValue, parseClaim, type Claimant } from '../src/rules/checkpoint-claim.ts';
import type { Decision, DecisionInput, RestorePolicy } from './decision.ts';
import type { AdmissionRequest } from './admission.ts';
import type { RestoreIndex } from './restore-index.ts';

/** The two API calls a claim needs (a thin client in the command, an in-memory one in tests). */
export interface ClaimApi {
  /** Merge patch of metadata (with resourceVersion as precondition when given); resolves to the Checkpoint as stored. Errors carry `.code`. */
  patchCheckpointMetadata(namespace: string, name: string, metadata: Record<string, unknown>): Promise<unknown>;
  getCheckpoint(namespace: string, name: string): Promise<unknown>;
}

export type ClaimOutcome = 'claimed' | 'taken';

export interface ClaimRequest {
  namespace: string;
  checkpoint: string;
  resourceVersion: string | undefined;
}

const MAX_WRITES = 3;
const codeOf = (err: unknown): unknown => (err as { code?: unknown } | null)?.code;

export async function claimCheckpoint(
  deps: { api: ClaimApi; index: Pick<RestoreIndex, 'upsert' | 'forgetCheckpoint' | 'holderSeen'> },
  request: ClaimRequest,
  claimant: Claimant,
  now: Date,
  ttlMs: number,
): Promise<ClaimOutcome> {
  const value = claimValue(claimant.holder, claimant.pod, new Date(now.getTime() + ttlMs));
  let resourceVersion = request.resourceVersion;
  for (let write = 0; write < MAX_WRITES; write++) {
    try {
      const stored = await deps.api.patchCheckpointMetadata(request.namespace, request.checkpoint, {
        ...(resourceVersion !== undefined ? { resourceVersion } : {}),
        annotations: { [CLAIM_ANNOTATION]: value },
      });
      deps.index.upsert('Checkpoint', stored);
      return 'claimed';
    } catch (err) {
      const code = codeOf(err);
      if (code === 404) {
        // Deleted meanwhile (retention): nothing to restore from.
        deps.index.forgetCheckpoint(request.namespace, request.checkpoint);
        return 'taken';
      }
      if (code !== 409) throw err;
    }
    const fresh = await deps.api.getCheckpoint(request.namespace, request.checkpoint);
    deps.index.upsert('Checkpoint', fresh);
    const metadata = (fresh as { metadata?: { resourceVersion?: unknown; annotations?: Record<string, unknown> } } | null)?.metadata;
    const claim = parseClaim(typeof metadata?.annotations?.[CLAIM_ANNOTATION] === 'string' ? metadata.annotations[CLAIM_ANNOTATION] : undefined);
    if (claimBlocks(claim, claimant, now, (h) => deps.index.holderSeen(request.namespace, h))) return 'taken';
    resourceVersion = typeof metadata?.resourceVersion === 'string' ? metadata.resourceVersion : undefined;
  }
  // Changed under us on every write: let the decision run again on what the index now holds.
  return 'taken';
}

export interface DecideAndClaimDeps {
  decide: (input: DecisionInput) => Decision;
  index: RestoreIndex;
  policy: RestorePolicy;
  clock: () => Date;
  claims: ClaimApi;
  claimTtlMs: number;
}

/** Decisions tried when other replicas claim the chosen checkpoints first. */
const MAX_DECISIONS = 3;

/**
 * Decide, then claim what the decision hands out; a checkpoint claimed first by another replica
 * is in the index now, so deciding again picks the next one (or a fresh start). A claim that
 * cannot be written means a fresh start: restoring without it could clone a pod.
 */
export async function decideAndClaim(deps: DecideAndClaimDeps, request: AdmissionRequest, onClaimError: (err: unknown, d: { namespace: string }) => void): Promise<Decision> {
  for (let round = 0; round < MAX_DECISIONS; round++) {
    const now = deps.clock();
    const decision = deps.decide({ request, index: deps.index, policy: deps.policy, now });
    if (decision.kind !== 'patch' || decision.claims.length === 0) return decision;
    let outcomes: ClaimOutcome[];
    try {
      outcomes = await Promise.all(decision.claims.map((c) =>
        claimCheckpoint({ api: deps.claims, index: deps.index }, { namespace: decision.namespace, ...c }, decision.claimant, now, deps.claimTtlMs)));
    } catch (err) {
      onClaimError(err, decision);
      return { kind: 'unchanged', reason: 'claim-failed', identity: decision.identity };
    }
    if (outcomes.every((o) => o === 'claimed')) return decision;
  }
  return { kind: 'unchanged', reason: 'claim-conflict' };
}

/** ClaimApi over plain-JSON calls to the API server. */
export function kubeClaimApi(kube: { get<T>(path: string): Promise<T>; patch<T>(path: string, body: unknown, type?: 'merge'): Promise<T> }, group: string, version: string, plural: string): ClaimApi {
  const path = (namespace: string, name: string) =>
    `/apis/${group}/${version}/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(name)}`;
  return {
    patchCheckpointMetadata: (namespace, name, metadata) => kube.patch(path(namespace, name), { metadata }, 'merge'),
    getCheckpoint: (namespace, name) => kube.get(path(namespace, name)),
  };
}
