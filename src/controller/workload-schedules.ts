// Deployments and StatefulSets carrying kcr.io/checkpoint-restore-schedule (the original kcr's
// opt-in), as plain schedule data for desiredSchedulers. Pure.
import { ANNOTATIONS, type LabelSelector } from '../api/types.ts';
import type { WorkloadSchedule } from '../schedule/desired.ts';

export interface WorkloadLike {
  metadata?: { name?: string; namespace?: string; uid?: string; deletionTimestamp?: string; annotations?: Record<string, string> };
  spec?: { selector?: LabelSelector };
}

/** Optional IANA zone for a workload's cron (the CR's spec.timeZone equivalent). */
export const WORKLOAD_TIMEZONE_ANNOTATION = 'kcr.io/checkpoint-restore-timezone';

export function workloadSchedules(kind: 'Deployment' | 'StatefulSet', workloads: readonly WorkloadLike[]): WorkloadSchedule[] {
  const out: WorkloadSchedule[] = [];
  for (const w of workloads) {
    const m = w.metadata;
    const cron = m?.annotations?.[ANNOTATIONS.workloadSchedule];
    if (!m?.name || !m.namespace || !m.uid || cron === undefined || m.deletionTimestamp) continue;
    // A workload without a selector would select every pod of its namespace: never schedule it.
    const selector = w.spec?.selector;
    if (!selector || (Object.keys(selector.matchLabels ?? {}).length === 0 && (selector.matchExpressions ?? []).length === 0)) continue;
    const tz = m.annotations?.[WORKLOAD_TIMEZONE_ANNOTATION];
    out.push({ kind, namespace: m.namespace, name: m.name, uid: m.uid, cron, ...(tz ? { timeZone: tz } : {}), selector });
  }
  return out;
}
