// The periodic registry sweep: deletes manifests under kcr's prefix that no Checkpoint refers to
// (left by a Checkpoint deleted while its finalizer was removed by hand, a push whose Checkpoint
// was never written, a registry restored from backup). The decision is planRegistrySweep; the
// registry's garbage collection then frees the blobs (README "Registry access").
import type { Checkpoint } from '../api/types.ts';
import type { Logger } from '../log.ts';
import { parseDigestReference, type CheckpointRepositories } from '../rules/checkpoint-image-ref.ts';
import { manifestKey, planRegistrySweep, type StoredManifest } from '../retention/registry-sweep-plan.ts';
import type { ObjectCache } from './object-cache.ts';
import type { ManifestDeleter } from './retention-runner.ts';

export interface RegistryInventory {
  stored(): Promise<StoredManifest[]>;
}

export interface RegistrySweepDeps {
  cache: ObjectCache;
  inventory: RegistryInventory;
  deleteManifest: ManifestDeleter;
  logger: Logger;
  repositories: CheckpointRepositories;
  graceMs: number;
  watchNamespaces?: readonly string[] | undefined;
}

export class RegistrySweeper {
  readonly #d: RegistrySweepDeps;
  #firstUnreferenced = new Map<string, number>();

  constructor(deps: RegistrySweepDeps) {
    this.#d = deps;
  }

  async sweep(now: Date): Promise<{ stored: number; deleted: number }> {
    const d = this.#d;
    const stored = await d.inventory.stored();
    // Read after listing: a Checkpoint written meanwhile protects its image.
    const referenced = new Set<string>();
    for (const cp of d.cache.list<Checkpoint>('Checkpoint')) {
      const ref = parseDigestReference(cp.status?.runtimeImage);
      if (ref && ref.registry.toLowerCase() === d.repositories.registry.toLowerCase()) referenced.add(manifestKey(ref));
    }
    const plan = planRegistrySweep({ stored, referenced, firstUnreferenced: this.#firstUnreferenced, prefix: d.repositories.prefix, onlyNamespaces: d.watchNamespaces, graceMs: d.graceMs, now });
    this.#firstUnreferenced = plan.firstUnreferenced;
    let deleted = 0;
    for (const m of plan.delete) {
      try {
        await d.deleteManifest(d.repositories.registry, m.repository, m.digest);
        deleted++;
        d.logger.info({ repository: m.repository, digest: m.digest }, 'registry sweep deleted a manifest no Checkpoint refers to');
      } catch (err) {
        // Seen again next sweep, still past its grace.
        this.#firstUnreferenced.set(manifestKey(m), now.getTime() - d.graceMs);
        d.logger.warn({ err, repository: m.repository, digest: m.digest }, 'registry sweep could not delete a manifest; next sweep tries again');
      }
    }
    return { stored: stored.length, deleted };
  }
}
