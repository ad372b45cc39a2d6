// Finished CheckpointRequests are deleted ttlSecondsAfterFinished after they finished, as Jobs
// are. Pure: requests and `now` in, names out.
import type { CheckpointRequest } from '../api/types.ts';

/** When the request finished (completionTime; a Failed one without it counts from its start or creation). */
export function finishedAt(r: CheckpointRequest): number | undefined {
  const phase = r.status?.phase;
  if (phase !== 'Completed' && phase !== 'Failed') return undefined;
  const t = r.status?.completionTime ?? r.status?.startTime ?? r.metadata.creationTimestamp;
  const ms = t === undefined ? NaN : Date.parse(t);
  return Number.isNaN(ms) ? undefined : ms;
}

export function expiredRequests(
  requests: readonly CheckpointRequest[],
  now: Date,
  defaultTtlSeconds: number,
): Array<{ namespace: string; name: string }> {
  const out: Array<{ namespace: string; name: string }> = [];
  for (const r of requests) {
    if (r.metadata.deletionTimestamp || !r.metadata.name || !r.metadata.namespace) continue;
    const done = finishedAt(r);
    if (done === undefined) continue;
    const ttl = r.spec.ttlSecondsAfterFinished ?? defaultTtlSeconds;
    if (done + ttl * 1000 <= now.getTime()) out.push({ namespace: r.metadata.namespace, name: r.metadata.name });
  }
  return out;
}
