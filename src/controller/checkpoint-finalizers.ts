// Carries out finalizerStep for every Checkpoint in the cache, each pass: adds the finalizer to
// Checkpoints without it, and for one being deleted removes its image from the registry, then
// the finalizer. A registry that fails keeps the finalizer: the Checkpoint stays (terminating,
// never restored from) and the next pass tries again, also after a restart or a leader change.
import { GROUP, PLURALS, VERSION, type Checkpoint } from '../api/types.ts';
import type { Logger } from '../log.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import type { CheckpointRepositories } from '../rules/checkpoint-image-ref.ts';
import { CHECKPOINT_FINALIZER, finalizerStep } from '../rules/checkpoint-finalizer.ts';
import type { ObjectCache } from './object-cache.ts';
import type { ManifestDeleter } from './retention-runner.ts';

export interface CheckpointFinalizerDeps {
  api: KubeJson;
  cache: ObjectCache;
  deleteManifest: ManifestDeleter;
  logger: Logger;
  repositories: CheckpointRepositories;
}

export interface FinalizerPass {
  added: number;
  imagesDeleted: number;
  released: number;
  failures: number;
}

const path = (ns: string, name: string) => `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURALS.Checkpoint}/${name}`;

/** Registry failures after which a pass stops deleting images (an unreachable registry is not asked a thousand times). */
const REGISTRY_FAILURES_PER_PASS = 3;

export async function runCheckpointFinalizers(d: CheckpointFinalizerDeps): Promise<FinalizerPass> {
  const pass: FinalizerPass = { added: 0, imagesDeleted: 0, released: 0, failures: 0 };
  let registryFailures = 0;
  for (const cp of d.cache.list<Checkpoint>('Checkpoint')) {
    const namespace = cp.metadata.namespace ?? '';
    const name = cp.metadata.name ?? '';
    const finalizers = cp.metadata.finalizers ?? [];
    const step = finalizerStep({ namespace, finalizers, deleting: Boolean(cp.metadata.deletionTimestamp), runtimeImage: cp.status?.runtimeImage }, d.repositories);
    if (step.kind === 'none') continue;
    // Guarded by what the cache saw: a concurrent change makes the test fail (422) and the next pass reads again.
    const setFinalizers = (to: string[]) => d.api.patch(path(namespace, name), cp.metadata.finalizers
      ? [{ op: 'test', path: '/metadata/finalizers', value: cp.metadata.finalizers }, { op: 'replace', path: '/metadata/finalizers', value: to }]
      : [{ op: 'add', path: '/metadata/finalizers', value: to }], 'json');
    try {
      if (step.kind === 'add') {
        await setFinalizers([...finalizers, CHECKPOINT_FINALIZER]);
        pass.added++;
        continue;
      }
      if (step.kind === 'delete-image') {
        if (registryFailures >= REGISTRY_FAILURES_PER_PASS) continue;
        let outcome: string;
        try {
          outcome = await d.deleteManifest(step.ref.registry, step.ref.repository, step.ref.digest);
        } catch (err) {
          registryFailures++;
          throw err;
        }
        pass.imagesDeleted++;
        d.logger.info({ namespace, checkpoint: name, image: cp.status?.runtimeImage, outcome }, 'checkpoint image deleted with its Checkpoint');
      } else if (step.why === 'foreign-image') {
        d.logger.warn({ namespace, checkpoint: name, image: cp.status?.runtimeImage }, 'not deleting an image outside the namespace’s checkpoint repositories');
      }
      await setFinalizers(finalizers.filter((f) => f !== CHECKPOINT_FINALIZER));
      pass.released++;
    } catch (err) {
      // 404: gone already; 409/422: changed since the cache saw it. Both settle next pass.
      const code = apiCode(err);
      if (code === 404 || code === 409 || code === 422) continue;
      pass.failures++;
      d.logger.warn({ err, code, namespace, checkpoint: name, step: step.kind }, 'checkpoint finalizer not done; retrying next pass');
    }
  }
  return pass;
}
