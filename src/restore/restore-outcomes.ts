// Restored containers that are running from their checkpoint, for kcr_restores_total{outcome=
// "restored"}: the pod names the checkpoint it was restored from (kcr.io/restored-from.<c>), the
// container runs that checkpoint's image, and it is running. In-place when the controller set the
// image on a crashed container (its in-place history), replacement otherwise (the webhook's). Each
// run of a container is one restore: the key holds its start time. Pure.
import { ANNOTATIONS, type Checkpoint } from '../api/types.ts';
import { historyAnnotation } from './in-place-restore.ts';
import type { PodLike } from './pod-like.ts';

export interface RunningRestore {
  /** pod uid, container and the run's start: one restore. */
  key: string;
  kind: 'replacement' | 'in-place';
  namespace: string;
  pod: string;
  container: string;
  checkpoint: string;
}

export function runningRestores(pods: readonly PodLike[], checkpoints: readonly Checkpoint[]): RunningRestore[] {
  const images = new Map<string, string>();
  for (const cp of checkpoints) {
    const image = cp.status?.runtimeImage;
    if (image && cp.metadata?.name && cp.metadata.namespace) images.set(`${cp.metadata.namespace}/${cp.metadata.name}`, image);
  }
  const out: RunningRestore[] = [];
  for (const pod of pods) {
    const m = pod.metadata;
    if (!m?.uid || !m.name || !m.namespace) continue;
    const annotations = m.annotations ?? {};
    for (const c of pod.spec?.containers ?? []) {
      const checkpoint = annotations[`${ANNOTATIONS.restoredFromContainerPrefix}${c.name}`];
      if (checkpoint === undefined || c.image === undefined || images.get(`${m.namespace}/${checkpoint}`) !== c.image) continue;
      const status = (pod.status?.containerStatuses ?? []).find((s) => s.name === c.name);
      const startedAt = status?.state?.running?.startedAt;
      if (!startedAt) continue;
      const started = startedAt instanceof Date ? startedAt.toISOString() : startedAt;
      out.push({
        key: `${m.uid}/${c.name}/${started}`,
        kind: annotations[historyAnnotation(c.name)] !== undefined ? 'in-place' : 'replacement',
        namespace: m.namespace,
        pod: m.name,
        container: c.name,
        checkpoint,
      });
    }
  }
  return out;
}

/**
 * The restores not seen on an earlier pass; forgets those no longer running (memory stays the
 * size of what runs). The first pass only learns what runs: a restarted controller does not
 * count the restores its predecessor saw.
 */
export class RestoreTally {
  #seen: Set<string> | undefined;

  newlyRunning(now: readonly RunningRestore[]): RunningRestore[] {
    const before = this.#seen;
    this.#seen = new Set(now.map((r) => r.key));
    return before === undefined ? [] : now.filter((r) => !before.has(r.key));
  }
}
