// Which manifests in the registry no Checkpoint refers to any more, and may go: those below kcr's
// prefix, unreferenced in every sweep for at least the grace period. The grace covers an image
// pushed whose Checkpoint is not written yet (the agent records it only after the push), and a
// controller whose cache is still filling. Pure: the caller keeps `firstUnreferenced` between
// sweeps (a restart forgets it, which only delays a delete).
import { isNamespaceRepository, underPrefix } from '../rules/checkpoint-image-ref.ts';

export interface StoredManifest {
  repository: string;
  digest: string;
}

export interface SweepInput {
  stored: readonly StoredManifest[];
  /** `repository@digest` of every Checkpoint's image (terminating ones too: their finalizer deletes them). */
  referenced: ReadonlySet<string>;
  /** When each unreferenced manifest was first seen so, from earlier sweeps. */
  firstUnreferenced: ReadonlyMap<string, number>;
  prefix: string;
  /** The controller reconciles only these namespaces (KCR_CONTROLLER_NAMESPACES): others' images are not its to judge. */
  onlyNamespaces?: readonly string[] | undefined;
  graceMs: number;
  now: Date;
}

export interface SweepPlan {
  delete: StoredManifest[];
  /** For the next sweep: only manifests still unreferenced and not deleted now. */
  firstUnreferenced: Map<string, number>;
}

export const manifestKey = (m: StoredManifest) => `${m.repository}@${m.digest}`;

export function planRegistrySweep(input: SweepInput): SweepPlan {
  const now = input.now.getTime();
  const plan: SweepPlan = { delete: [], firstUnreferenced: new Map() };
  const seen = new Set<string>();
  for (const m of input.stored) {
    const key = manifestKey(m);
    if (seen.has(key)) continue; // several tags of one manifest
    seen.add(key);
    if (!underPrefix(m.repository, input.prefix) || input.referenced.has(key)) continue;
    if (input.onlyNamespaces && !input.onlyNamespaces.some((ns) => isNamespaceRepository(m.repository, input.prefix, ns))) continue;
    const since = input.firstUnreferenced.get(key) ?? now;
    if (now - since >= input.graceMs) plan.delete.push(m);
    else plan.firstUnreferenced.set(key, since);
  }
  return plan;
}
