// Deterministic names for the pieces a fired schedule produces: per-node queue names,
// BullMQ job ids and CheckpointRequest names. A double fire yields the same names, so it
// creates no duplicate.
import { createHash } from 'node:crypto';

/** Queue of the controller's scheduler: fired schedules land here. */
export const SCHEDULE_QUEUE = 'kcr-schedules';

/** Queue worked by the agent on `nodeName`. Node names are DNS subdomains: no ':' to escape. */
export function nodeQueueName(nodeName: string): string {
  return `kcr-node-${nodeName}`;
}

/**
 * BullMQ job id of one container's checkpoint for one fire. BullMQ rejects custom ids with
 * ':' (its key separator), so parts are joined with '_', which none of them can contain
 * (UIDs are hex and '-', container names are DNS labels).
 */
export function checkpointJobId(scheduleUid: string, fireTimeMs: number, podUid: string, containerName: string): string {
  return [scheduleUid, String(fireTimeMs), podUid, containerName].join('_');
}

function dnsLabelPart(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * CheckpointRequest name: readable prefix (pod and container) plus a hash of the job id, at
 * most 63 characters of [a-z0-9-], starting and ending alphanumeric (valid as a DNS-1123
 * label, so also as a subdomain and as a label value).
 */
export function checkpointRequestName(podName: string, containerName: string, jobId: string): string {
  const hash = createHash('sha256').update(jobId).digest('hex').slice(0, 10);
  const prefix = dnsLabelPart(`${podName}-${containerName}`).slice(0, 63 - 1 - hash.length).replace(/-+$/g, '');
  return prefix === '' ? `cp-${hash}` : `${prefix}-${hash}`;
}
