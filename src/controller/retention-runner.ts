// Applies retention (controller side): the pure chooseRetention per policy group over the cached
// Checkpoints; each chosen one is deleted as a Checkpoint, and its finalizer has the controller
// take its manifest out of the registry (checkpoint-finalizers.ts), retried until it is gone,
// whoever leads. Checkpoints restored into a living pod, or pinned, are protected by chooseRetention.
// It also writes the orphan marks the decision asks for (ANNOTATIONS.orphanedSince): they are how
// the orphan grace survives controller restarts. Node archives are the agents' business.
import { ANNOTATIONS, API_VERSION, PLURALS, type Checkpoint, type CheckpointSchedule } from '../api/types.ts';
import type { Logger } from '../log.ts';
import { chooseRetention, type DeleteReason, type RetentionDecision } from '../retention/choose.ts';
import type { PodLike } from '../schedule/fan-out.ts';
import type { EventRecorder } from './events.ts';
import { crPath } from './fire-handler.ts';
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import type { ObjectCache } from './object-cache.ts';
import type { ControllerRecorder } from './controller-metrics.ts';
import { groupForRetention, livingPods, livingRestoredFrom, pinnedCheckpoints, workloadExistsIn } from './retention-input.ts';

/** Deletes one manifest by digest; the shell around kcr's RegistryClient (credentials from the kcr-registry Secret). */
export type ManifestDeleter = (registry: string, repository: string, digest: string) => Promise<'deleted' | 'absent'>;

export interface RetentionDeps {
  api: KubeJson;
  cache: ObjectCache;
  events: EventRecorder;
  logger: Logger;
  now?: () => Date;
  metrics?: Pick<ControllerRecorder, 'retentionDeleted'>;
}

export interface RetentionPass {
  deleted: Array<{ namespace: string; name: string; reason: DeleteReason }>;
  /** Orphan marks written (an RFC 3339 time) or cleared (null). */
  marked: Array<{ namespace: string; name: string; orphanedSince: string | null }>;
}

export class RetentionRunner {
  readonly #deps: RetentionDeps;

  constructor(deps: RetentionDeps) {
    this.#deps = deps;
  }

  async run(): Promise<RetentionPass> {
    const { cache, api, logger, events } = this.#deps;
    const checkpoints = cache.list<Checkpoint>('Checkpoint');
    const groups = groupForRetention(checkpoints, cache.list<CheckpointSchedule>('CheckpointSchedule'));
    const pods = cache.list<PodLike>('Pod');
    const living = livingRestoredFrom(pods);
    const alive = livingPods(pods);
    const pinned = pinnedCheckpoints(checkpoints);
    const workloadExists = workloadExistsIn((kind, ns, name) => cache.get(kind, ns, name) !== undefined);
    const now = this.#deps.now?.() ?? new Date();
    const pass: RetentionPass = { deleted: [], marked: [] };
    const marks: RetentionDecision['marks'] = [];
    for (const group of groups) {
      const decision = chooseRetention({ checkpoints: group.checkpoints, policy: group.policy, livingRestoredFrom: living, pinned, workloadExists, living: alive, now });
      marks.push(...decision.marks);
      for (const { checkpoint: c, reason } of decision.delete) {
        const cp = cache.get<Checkpoint>('Checkpoint', c.namespace, c.name);
        try {
          await api.delete(crPath(PLURALS.Checkpoint, c.namespace, c.name));
        } catch (err) {
          // 404: already gone (deleted by an earlier pass the cache has not caught up with).
          if (apiCode(err) !== 404) logger.warn({ err, code: apiCode(err), namespace: c.namespace, checkpoint: c.name }, 'could not delete a Checkpoint under retention');
          continue;
        }
        pass.deleted.push({ namespace: c.namespace, name: c.name, reason });
        this.#deps.metrics?.retentionDeleted(reason);
        logger.info({ namespace: c.namespace, checkpoint: c.name, identity: c.identity, container: c.containerName, reason, group: group.key },
          'checkpoint deleted under retention');
        const owner = cp?.spec.checkpointScheduleRef?.name;
        if (owner) {
          await events.event({ apiVersion: API_VERSION, kind: 'CheckpointSchedule', namespace: c.namespace, name: owner }, 'Normal', 'CheckpointDeleted',
            `retention deleted checkpoint ${c.name} (${reason})`);
        }
      }
    }
    await this.#writeMarks(marks, pass);
    return pass;
  }

  /** A mark not written (conflict, API error) is asked for again by the next pass; until then the grace has not started. */
  async #writeMarks(marks: RetentionDecision['marks'], pass: RetentionPass): Promise<void> {
    const { api, cache, logger } = this.#deps;
    for (const { checkpoint: c, orphanedSince } of marks) {
      const value = orphanedSince === null ? null : orphanedSince.toISOString();
      const meta = cache.get<Checkpoint>('Checkpoint', c.namespace, c.name)?.metadata;
      // Preconditions: the object the decision saw. A cache behind an earlier write (409) must not
      // move a mark forward, and a Checkpoint recreated under the same name is not the one marked.
      const preconditions = { ...(meta?.uid ? { uid: meta.uid } : {}), ...(meta?.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}) };
      try {
        await api.patch(crPath(PLURALS.Checkpoint, c.namespace, c.name), { metadata: { ...preconditions, annotations: { [ANNOTATIONS.orphanedSince]: value } } });
      } catch (err) {
        if (apiCode(err) !== 404 && apiCode(err) !== 409) {
          logger.warn({ err, code: apiCode(err), namespace: c.namespace, checkpoint: c.name }, 'could not write the orphan mark of a Checkpoint');
        }
        continue;
      }
      pass.marked.push({ namespace: c.namespace, name: c.name, orphanedSince: value });
      logger.info({ namespace: c.namespace, checkpoint: c.name, identity: c.identity, workload: c.workload, orphanedSince: value },
        value === null ? 'checkpoint no longer orphaned' : 'checkpoint orphaned: no workload and no living pod of its identity; deleted after the orphan grace');
    }
  }
}
