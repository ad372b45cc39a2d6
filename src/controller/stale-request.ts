// Whether a CheckpointRequest that is still Pending or InProgress will ever finish. Pure: the
// request, what Redis says about its job, whether its node exists, what this controller saw
// before and `now` go in; keep or fail comes out.
//
// A request left unfinished keeps its container "busy" on every later fire, so one that nobody
// works on any more must fail, with a reason, for the next fire to checkpoint the container:
//   - past its timeout (spec.timeoutSeconds, default 300) plus a margin, whatever its job says;
//   - lost for longer than a grace: its node is gone, the agent holding its job died (the job is
//     active but nobody holds its lock), or the job is gone from the node's queue (Redis lost its
//     data), or it finished without the agent recording it on the request.
// Redis unreachable ('unknown') never fails a request: not knowing is not "missing".
import type { CheckpointRequest } from '../api/types.ts';
import type { CheckpointJobState } from '../queue/checkpoint-queues.ts';
import { DEFAULT_CHECKPOINT_TIMEOUT_SECONDS } from '../schedule/fan-out.ts';

export const DEFAULT_STUCK_MARGIN_SECONDS = 300;
export const DEFAULT_LOST_GRACE_SECONDS = 120;

/** Why a request is lost (the grace runs while the same cause holds). */
export type LostCause = 'node-gone' | 'agent-gone' | 'job-missing' | 'job-failed' | 'job-finished';

/** The Event reason (and status message prefix) of a request failed here. */
export type StaleReason = 'TimedOut' | 'NodeGone' | 'AgentGone' | 'JobLost' | 'JobFailed' | 'JobFinished';

const REASON_OF: Record<LostCause, StaleReason> = {
  'node-gone': 'NodeGone',
  'agent-gone': 'AgentGone',
  'job-missing': 'JobLost',
  'job-failed': 'JobFailed',
  'job-finished': 'JobFinished',
};

/** A request this controller already saw lost: the cause and since when. */
export interface Suspect {
  cause: LostCause;
  sinceMs: number;
}

export interface StaleInput {
  request: CheckpointRequest;
  now: Date;
  /** The request's job on its node's queue; undefined when the request names no node (never queued). */
  job: CheckpointJobState | undefined;
  /** A failed job's failedReason, for the message. */
  jobFailedReason?: string | undefined;
  /** Whether the node status.nodeName names exists; undefined when it names none. */
  nodeExists: boolean | undefined;
  /** What the previous look found (undefined: the request did not look lost then). */
  suspect: Suspect | undefined;
  marginSeconds: number;
  graceSeconds: number;
}

export type StaleDecision =
  /** `suspect`: the request looks lost, not yet for the grace; remember it for the next look. */
  | { action: 'keep'; suspect?: Suspect }
  | { action: 'fail'; reason: StaleReason; message: string };

/** Pending or InProgress (or no phase yet) and not being deleted. */
export function unfinished(r: CheckpointRequest): boolean {
  const phase = r.status?.phase;
  return phase !== 'Completed' && phase !== 'Failed' && !r.metadata.deletionTimestamp;
}

/** From when the timeout counts: the agent's start, else the request's creation; undefined when neither is known. */
export function startedMs(r: CheckpointRequest): number | undefined {
  const t = Date.parse(r.status?.startTime ?? r.metadata.creationTimestamp ?? '');
  return Number.isNaN(t) ? undefined : t;
}

/** Seconds an unfinished request may take: its timeout plus the margin. */
export function allowedSeconds(r: CheckpointRequest, marginSeconds: number): number {
  return (r.spec?.timeoutSeconds ?? DEFAULT_CHECKPOINT_TIMEOUT_SECONDS) + marginSeconds;
}

/** Past its timeout plus the margin: nothing it still does counts as "the previous checkpoint still running". */
export function overdue(r: CheckpointRequest, now: Date, marginSeconds: number): boolean {
  const since = startedMs(r);
  return unfinished(r) && since !== undefined && now.getTime() - since > allowedSeconds(r, marginSeconds) * 1000;
}

function lostCause(input: StaleInput): LostCause | undefined {
  const { job, nodeExists } = input;
  if (job === undefined) return undefined;
  // An active job whose lock is held has a living worker: only the timeout ends it.
  if (job === 'active') return undefined;
  if (nodeExists === false) return 'node-gone';
  switch (job) {
    case 'stalled':
      return 'agent-gone';
    case 'missing':
      return 'job-missing';
    case 'failed':
      return 'job-failed';
    case 'completed':
      return 'job-finished';
    default:
      return undefined;
  }
}

function where(input: StaleInput): string {
  const node = input.request.status?.nodeName;
  switch (input.job) {
    case undefined:
      return 'it was never queued (its pod did not run on a node)';
    case 'waiting':
      return `its job is still waiting in node ${node}'s queue (is the agent on ${node} running?)`;
    case 'delayed':
      return `its job is still waiting to be retried on node ${node}`;
    case 'active':
      return `its job is still running on node ${node}`;
    default:
      return lostMessage(input, lostCause(input) ?? 'job-missing');
  }
}

function lostMessage(input: StaleInput, cause: LostCause): string {
  const node = input.request.status?.nodeName ?? '?';
  switch (cause) {
    case 'node-gone':
      return `node ${node} no longer exists`;
    case 'agent-gone':
      return `the agent on node ${node} stopped working on its job (the job's lock expired) and no agent took it up again`;
    case 'job-missing':
      return `its job is no longer in node ${node}'s queue (Redis lost it, or it was deleted)`;
    case 'job-failed':
      return `its job failed on node ${node}${input.jobFailedReason ? ` (${input.jobFailedReason})` : ''} without the agent recording it`;
    case 'job-finished':
      return `its job finished on node ${node} without the agent completing the request`;
  }
}

export function staleRequestDecision(input: StaleInput): StaleDecision {
  const r = input.request;
  if (!unfinished(r)) return { action: 'keep' };
  // Redis unreachable: nothing is known, nothing changes (the grace neither starts nor ends).
  if (input.job === 'unknown') return input.suspect ? { action: 'keep', suspect: input.suspect } : { action: 'keep' };
  if (overdue(r, input.now, input.marginSeconds)) {
    const allowed = allowedSeconds(r, input.marginSeconds);
    return { action: 'fail', reason: 'TimedOut', message: `not finished within ${allowed} s (timeoutSeconds ${allowed - input.marginSeconds} plus a margin of ${input.marginSeconds} s): ${where(input)}` };
  }
  const cause = lostCause(input);
  if (cause === undefined) return { action: 'keep' };
  const nowMs = input.now.getTime();
  const sinceMs = input.suspect?.cause === cause ? input.suspect.sinceMs : nowMs;
  if (nowMs - sinceMs >= input.graceSeconds * 1000) {
    return { action: 'fail', reason: REASON_OF[cause], message: `${lostMessage(input, cause)}; seen so for ${Math.round((nowMs - sinceMs) / 1000)} s` };
  }
  return { action: 'keep', suspect: { cause, sinceMs } };
}
