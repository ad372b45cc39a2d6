// DESIGN.md restore rule 8: a container that exits with an error in a pod that stays (the kubelet
// restarts it in place; no new pod, so the webhook never sees it) is restored in place: its image
// is set to its latest good checkpoint image, and the kubelet restarts it from there. Pure: pods,
// checkpoints, the opt-in and identity rules and `now` are passed in; the shell sends one patch
// per returned restore and one Event per crash loop.
//
// The pod itself records what was done (kcr.io/in-place-restores.<container>), so a controller
// restart forgets nothing and deciding twice restores once. Bounded: at most maxRestores within
// windowMs per container; past that the crash loop is left to the kubelet's back-off.
import type { Checkpoint } from '../api/types.ts';
import { ANNOTATIONS } from '../api/types.ts';
import { nodeMisfit, type NodeRestoreFacts, type RestoreNeed } from '../rules/restore-fit.ts';
import { inNamespaceRepositories, type CheckpointRepositories } from '../rules/checkpoint-image-ref.ts';
import type { ContainerStatusLike, PodLike } from './pod-like.ts';

export type { ContainerStatusLike, PodLike, TerminatedLike } from './pod-like.ts';

/** Prefix of the per-container history annotation: kcr.io/in-place-restores.<container>. */
export const IN_PLACE_HISTORY_PREFIX = 'kcr.io/in-place-restores.';

export interface InPlaceBound {
  maxRestores: number;
  windowMs: number;
}

export const DEFAULT_IN_PLACE_BOUND: Readonly<InPlaceBound> = Object.freeze({ maxRestores: 3, windowMs: 10 * 60_000 });

/**
 * The value of kcr.io/in-place-restores.<container>, as compact JSON:
 * `{"restartCount":4,"restoredAt":["2026-03-10T12:00:00.000Z"],"crashedRun":"cri-o://…"}`.
 * restartCount: the container's restart count at the last crash kcr handled (restored, or left to
 * the kubelet as a crash loop); restoredAt: ISO times of in-place restores still inside the window
 * when the last one was written, oldest first; crashedRun: which run that crash ended (its
 * containerID, else its finish time). The run, not the count, tells a new crash: a runtime that
 * restores a checkpoint also restores the checkpointed container's annotations, the kubelet's
 * restart count among them (CRI-O), so a restored container that crashes again may keep its count.
 */
export interface InPlaceHistory {
  restartCount: number;
  restoredAt: string[];
  crashedRun?: string;
}

const EMPTY_HISTORY: InPlaceHistory = { restartCount: 0, restoredAt: [] };

export function historyAnnotation(container: string): string {
  return `${IN_PLACE_HISTORY_PREFIX}${container}`;
}

/** Never throws: a missing or mangled annotation reads as no history. */
export function readInPlaceHistory(value: unknown): InPlaceHistory {
  if (typeof value !== 'string' || value === '') return EMPTY_HISTORY;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return EMPTY_HISTORY;
  }
  if (!isRecord(parsed)) return EMPTY_HISTORY;
  const restartCount = isCount(parsed.restartCount) ? parsed.restartCount : 0;
  const restoredAt = Array.isArray(parsed.restoredAt)
    ? parsed.restoredAt.filter((t): t is string => typeof t === 'string' && timeMs(t) !== undefined)
    : [];
  const crashedRun = typeof parsed.crashedRun === 'string' && parsed.crashedRun !== '' ? parsed.crashedRun : undefined;
  return { restartCount, restoredAt, ...(crashedRun !== undefined ? { crashedRun } : {}) };
}

export function formatInPlaceHistory(history: InPlaceHistory): string {
  return JSON.stringify({ restartCount: history.restartCount, restoredAt: history.restoredAt, ...(history.crashedRun !== undefined ? { crashedRun: history.crashedRun } : {}) });
}

/** Time of the latest in-place restore the history records, ms; undefined when none. */
export function lastInPlaceRestoreMs(history: InPlaceHistory): number | undefined {
  let last: number | undefined;
  for (const t of history.restoredAt) {
    const ms = timeMs(t);
    if (ms !== undefined && (last === undefined || ms > last)) last = ms;
  }
  return last;
}

/** What the shell patches into the pod, in one request. */
export interface InPlacePatch {
  /** Index in spec.containers; a JSON patch should `test` /spec/containers/<i>/name first. */
  containerIndex: number;
  image: string;
  /** Merged into metadata.annotations: kcr.io/restored-from.<container> and the history. */
  annotations: Record<string, string>;
}

export interface InPlaceRestore {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  /** Name of the Checkpoint restored from (same namespace as the pod). */
  checkpoint: string;
  /** Its status.runtimeImage. */
  image: string;
  /** The restart count this restore handles (recorded in the history). */
  restartCount: number;
  /** The container runs that checkpoint image already: the kubelet's restart restored it; only the history changes. */
  alreadyRestored: boolean;
  patch: InPlacePatch;
}

/** A new crash that the bound leaves to the kubelet: the shell emits one Event for it. */
export interface CrashLoop {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  restartCount: number;
  /** The checkpoint it would have been restored from. */
  checkpoint: string;
  /** For the Event, e.g. "crash loop: 3 in-place restores within 10m; left to the kubelet". */
  message: string;
  /** Marks this crash handled: once patched, it is not reported again (null: remove the annotation). */
  annotations: Record<string, string | null>;
  /** Set when the container runs a checkpoint image: the original image to put back. */
  image?: string;
  containerIndex?: number;
}

export interface InPlaceDecision {
  restores: InPlaceRestore[];
  crashLoops: CrashLoop[];
}

export interface InPlaceInput {
  pods: readonly PodLike[];
  checkpoints: readonly Checkpoint[];
  optedIn: (pod: PodLike) => boolean;
  /** The identity checkpoints of this pod carry (spec.identity); undefined: never restored. */
  identityOf: (pod: PodLike) => string | undefined;
  now: Date;
  /** What the pod's node can restore (its restore.kcr.io labels): the same fit check the webhook places by. */
  nodeOf: (name: string) => NodeRestoreFacts | undefined;
  /** Checkpoint images restore only from under <registry>/<prefix>/<the pod's namespace>/. */
  repositories: CheckpointRepositories;
  /** Default DEFAULT_IN_PLACE_BOUND. */
  bound?: InPlaceBound;
}

/** Restores to apply now, in a deterministic order (namespace, pod, container). */
export function inPlaceRestores(input: InPlaceInput): InPlaceRestore[] {
  return decideInPlace(input).restores;
}

/** New crashes the bound leaves to the kubelet, in the same order. */
export function crashLoops(input: InPlaceInput): CrashLoop[] {
  return decideInPlace(input).crashLoops;
}

interface CheckpointView {
  name: string;
  namespace: string;
  identity: string | undefined;
  container: string | undefined;
  podUID: string | undefined;
  podName: string | undefined;
  originalImage: string | undefined;
  runtimeImage: string | undefined;
  /** The runtime that wrote it and the architecture it was taken on (what a node needs to restore it). */
  need: RestoreNeed;
  bad: boolean;
  /** ImageBuilt, pullable, not bad: restorable. */
  good: boolean;
  takenMs: number;
  createdMs: number;
}

export function decideInPlace(input: InPlaceInput): InPlaceDecision {
  const nowMs = input.now.getTime();
  if (!Number.isFinite(nowMs)) throw new RangeError('inPlaceRestores: now is not a valid date');
  const bound = boundOf(input.bound);
  const views = input.checkpoints.map(viewOf).filter((c): c is CheckpointView => c !== undefined);
  // A checkpoint listed twice (a stale copy) is bad when any copy says so: bad is never undone.
  const bad = new Set(views.filter((c) => c.bad).map((c) => `${c.namespace}/${c.name}`));
  const checkpoints = views.map((c) => (bad.has(`${c.namespace}/${c.name}`) ? { ...c, good: false } : c));
  const living = livingPods(input.pods);
  const decision: InPlaceDecision = { restores: [], crashLoops: [] };
  // Checkpoints chosen in this pass, by `namespace/name` → pod uid: two pods never get the same memory.
  const claimed = new Map<string, string>();

  const pods = input.pods.filter((p) => isObject(p)).map(podKeyOf).filter((p) => p !== undefined).sort(comparePods);
  const seen = new Set<string>();
  for (const { pod, namespace, name, uid } of pods) {
    // A pod listed twice is decided once (the first copy in that order).
    if (seen.has(`${namespace}/${uid}`)) continue;
    seen.add(`${namespace}/${uid}`);
    if (isDeleting(pod) || !RESTARTABLE_PHASES.has(str(pod.status?.phase) ?? '')) continue;
    // Asked only once a container of the pod crashed: every pod is looked at on every pass.
    let identityIfOptedIn: string | null | undefined;
    const restorableAs = (): string | null => {
      if (identityIfOptedIn === undefined) {
        const identity = input.optedIn(pod) ? input.identityOf(pod) : undefined;
        identityIfOptedIn = identity === undefined || identity === '' ? null : identity;
      }
      return identityIfOptedIn;
    };
    const annotations = isObject(pod.metadata?.annotations) ? pod.metadata.annotations : {};
    const containers = Array.isArray(pod.spec?.containers) ? pod.spec.containers : [];
    const statuses = Array.isArray(pod.status?.containerStatuses) ? pod.status.containerStatuses : [];
    const done = new Set<string>();
    // Restored where it runs: only if that node can restore the checkpoint (else it restarts fresh).
    const nodeName = str(pod.spec?.nodeName);
    const node = nodeName === undefined ? undefined : input.nodeOf(nodeName);

    containers.forEach((c, containerIndex) => {
      const container = isObject(c) ? str(c.name) : undefined;
      const image = isObject(c) ? str(c.image) : undefined;
      if (container === undefined || image === undefined || done.has(container)) return;
      done.add(container);
      const status = statuses.find((s) => isObject(s) && s.name === container);
      if (status === undefined) return;
      const history = readInPlaceHistory(annotations[historyAnnotation(container)]);
      const crash = newCrash(status, history);
      if (crash === undefined) return;
      const { restartCount, run: crashedRun } = crash;
      const identity = restorableAs();
      if (identity === null) return;

      const software = softwareOf(image, namespace, checkpoints);
      if (software === undefined) return;
      const best = checkpoints
        .filter((cp) =>
          cp.good &&
          node !== undefined && nodeMisfit(node, cp.need) === undefined &&
          inNamespaceRepositories(cp.runtimeImage, input.repositories, namespace) &&
          cp.namespace === namespace &&
          cp.identity === identity &&
          cp.container === container &&
          cp.originalImage === software &&
          !clonesAnotherPod(cp, uid, name, living, claimed))
        .sort(preferFor(uid))[0];
      if (best === undefined) return;
      const runtimeImage = best.runtimeImage!;
      // Running from that checkpoint already: the kubelet's restart restored it again, which counts
      // against the bound like a restore kcr made (else a crash loop would be a restore loop).
      const onCheckpoint = image !== software;

      const recent = history.restoredAt.map(timeMs).filter((t): t is number => t !== undefined && t > nowMs - bound.windowMs);
      if (recent.length >= bound.maxRestores) {
        const handled = { [historyAnnotation(container)]: formatInPlaceHistory({ ...history, restartCount, ...(crashedRun !== undefined ? { crashedRun } : {}) }) };
        decision.crashLoops.push({
          namespace,
          pod: name,
          podUid: uid,
          container,
          restartCount,
          checkpoint: best.name,
          message: bound.maxRestores === 0
            ? `crash of container ${container}: in-place restores are off (maxRestores 0); left to the kubelet`
            : `crash loop: ${recent.length} in-place restores of container ${container} within ${duration(bound.windowMs)}; ${onCheckpoint ? `set back to ${software} and ` : ''}left to the kubelet`,
          // Off the checkpoint image, or every kubelet restart would restore it again.
          ...(onCheckpoint ? { image: software, containerIndex } : {}),
          annotations: onCheckpoint ? { ...handled, [`${ANNOTATIONS.restoredFromContainerPrefix}${container}`]: null } : handled,
        });
        return;
      }
      claimed.set(`${namespace}/${best.name}`, uid);
      const restoredAt = [...recent.sort((a, b) => a - b), nowMs].map((t) => new Date(t).toISOString());
      decision.restores.push({
        namespace,
        pod: name,
        podUid: uid,
        container,
        checkpoint: best.name,
        image: runtimeImage,
        restartCount,
        alreadyRestored: runtimeImage === image,
        patch: {
          containerIndex,
          image: runtimeImage,
          annotations: {
            [`${ANNOTATIONS.restoredFromContainerPrefix}${container}`]: best.name,
            [historyAnnotation(container)]: formatInPlaceHistory({ restartCount, restoredAt, ...(crashedRun !== undefined ? { crashedRun } : {}) }),
          },
        },
      });
    });
  }
  return decision;
}

const RESTARTABLE_PHASES = new Set(['Running', 'Pending']);

/** Which run a terminated state ended: its containerID, else its finish time. */
function runOf(terminated: { containerID?: unknown; finishedAt?: unknown }): string | undefined {
  const id = str(terminated.containerID);
  if (id !== undefined && id !== '') return id;
  const finished = timeMs(terminated.finishedAt);
  return finished === undefined ? undefined : `finished@${new Date(finished).toISOString()}`;
}

/**
 * A crash kcr has not handled yet (its restart count and run), else undefined. New: the kubelet
 * restarted the container after a non-zero exit, that run is not the one recorded (or, without
 * runs to compare, its restart count is past the one recorded), and the run that crashed started
 * after kcr's last in-place restore. That last part matters: to apply a new image the kubelet
 * kills the run it had (a non-zero exit, a restart) — a restart kcr caused, not a crash of the
 * restored container.
 */
function newCrash(status: ContainerStatusLike, history: InPlaceHistory): { restartCount: number; run: string | undefined } | undefined {
  const last = isObject(status.lastState) && isObject(status.lastState.terminated) ? status.lastState.terminated : undefined;
  if (last === undefined || typeof last.exitCode !== 'number' || last.exitCode === 0 || Number.isNaN(last.exitCode)) return undefined;
  const restarts = isCount(status.restartCount) ? status.restartCount : 0;
  const run = runOf(last);
  const unseen = run !== undefined && history.crashedRun !== undefined ? run !== history.crashedRun : restarts > history.restartCount;
  if (!unseen) return undefined;
  const restoredMs = lastInPlaceRestoreMs(history);
  if (restoredMs === undefined) return { restartCount: restarts, run };
  const startedMs = timeMs(last.startedAt);
  // Without a start time, the restart kcr caused is the one right after the recorded count.
  const crashedAfterRestore = startedMs !== undefined ? startedMs >= restoredMs : restarts > history.restartCount + 1;
  return crashedAfterRestore ? { restartCount: restarts, run } : undefined;
}

/**
 * The software a container runs: its image, or, when the image is a checkpoint image (an earlier
 * restore), the original image that checkpoint was taken from.
 */
function softwareOf(image: string, namespace: string, checkpoints: readonly CheckpointView[]): string | undefined {
  const restoredFrom = checkpoints
    .filter((cp) => cp.namespace === namespace && cp.runtimeImage === image)
    .sort((a, b) => compareStrings(a.name, b.name));
  if (restoredFrom.length === 0) return image;
  return restoredFrom.find((cp) => cp.originalImage !== undefined)?.originalImage;
}

/** Keyed by namespace too: nothing in another namespace may change a decision. */
interface LivingPods {
  /** `namespace/uid` */
  uids: Set<string>;
  /** `namespace/name` → uid */
  names: Map<string, string>;
  /** `namespace/checkpoint` → uids of living pods restored from it */
  restoredFrom: Map<string, Set<string>>;
}

/** Pods whose containers run or may run: not being deleted, not Succeeded/Failed. */
function livingPods(pods: readonly PodLike[]): LivingPods {
  const out: LivingPods = { uids: new Set(), names: new Map(), restoredFrom: new Map() };
  for (const p of pods) {
    if (!isObject(p)) continue;
    const key = podKeyOf(p);
    if (key === undefined || isDeleting(p) || TERMINAL_PHASES.has(str(p.status?.phase) ?? '')) continue;
    out.uids.add(`${key.namespace}/${key.uid}`);
    out.names.set(`${key.namespace}/${key.name}`, key.uid);
    const annotations = isObject(p.metadata?.annotations) ? p.metadata.annotations : {};
    for (const [k, v] of Object.entries(annotations)) {
      if (typeof v !== 'string') continue;
      const names = k === ANNOTATIONS.restoredFrom ? v.split(',').map((n) => n.trim())
        : k.startsWith(ANNOTATIONS.restoredFromContainerPrefix) ? [v] : [];
      for (const n of names) {
        if (n === '') continue;
        const cpKey = `${key.namespace}/${n}`;
        const uids = out.restoredFrom.get(cpKey) ?? new Set<string>();
        uids.add(key.uid);
        out.restoredFrom.set(cpKey, uids);
      }
    }
  }
  return out;
}

const TERMINAL_PHASES = new Set(['Succeeded', 'Failed']);

/**
 * Restoring it would copy another running pod's memory into this one (DESIGN rule 3, "never
 * clone"): its source pod still runs, another living pod was restored from it, or another pod
 * got it earlier in this pass.
 */
function clonesAnotherPod(cp: CheckpointView, uid: string, name: string, living: LivingPods, claimed: Map<string, string>): boolean {
  const key = `${cp.namespace}/${cp.name}`;
  if (cp.podUID !== undefined) {
    if (cp.podUID !== uid && living.uids.has(`${cp.namespace}/${cp.podUID}`)) return true;
  } else if (cp.podName !== undefined && cp.podName !== name && living.names.has(`${cp.namespace}/${cp.podName}`)) {
    return true;
  }
  for (const other of living.restoredFrom.get(key) ?? []) if (other !== uid) return true;
  const claimant = claimed.get(key);
  return claimant !== undefined && claimant !== uid;
}

/** Best first: taken from this very pod, then newest (checkpointTimestamp, then creation); names break ties. */
function preferFor(uid: string): (a: CheckpointView, b: CheckpointView) => number {
  return (a, b) => {
    const aOwn = a.podUID === uid;
    if (aOwn !== (b.podUID === uid)) return aOwn ? -1 : 1;
    if (a.takenMs !== b.takenMs) return a.takenMs > b.takenMs ? -1 : 1;
    if (a.createdMs !== b.createdMs) return a.createdMs > b.createdMs ? -1 : 1;
    return compareStrings(a.name, b.name);
  };
}

function viewOf(cp: Checkpoint): CheckpointView | undefined {
  if (!isObject(cp) || !isObject(cp.metadata)) return undefined;
  const name = str(cp.metadata.name);
  const namespace = str(cp.metadata.namespace);
  if (name === undefined || namespace === undefined) return undefined;
  const spec = isObject(cp.spec) ? cp.spec : undefined;
  const status = isObject(cp.status) ? cp.status : undefined;
  const runtimeImage = str(status?.runtimeImage);
  return {
    name,
    namespace,
    identity: str(spec?.identity),
    container: str(spec?.containerName),
    podUID: str(spec?.podUID),
    podName: str(spec?.podName),
    originalImage: str(spec?.originalImage),
    runtimeImage,
    need: { runtime: str(spec?.runtime?.name), architecture: str(spec?.architecture) },
    bad: status?.bad === true,
    good: status?.phase === 'ImageBuilt' && runtimeImage !== undefined && status.bad !== true,
    takenMs: timeMs(spec?.checkpointTimestamp) ?? -Infinity,
    createdMs: timeMs(cp.metadata.creationTimestamp) ?? -Infinity,
  };
}

interface PodKey {
  pod: PodLike;
  namespace: string;
  name: string;
  uid: string;
}

/** A pod the API server stored has all three; anything else is ignored. */
function podKeyOf(pod: PodLike): PodKey | undefined {
  const m = isObject(pod.metadata) ? pod.metadata : undefined;
  const namespace = str(m?.namespace);
  const name = str(m?.name);
  const uid = str(m?.uid);
  return namespace === undefined || name === undefined || uid === undefined ? undefined : { pod, namespace, name, uid };
}

function comparePods(a: PodKey, b: PodKey): number {
  return compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name) || compareStrings(a.uid, b.uid);
}

function isDeleting(pod: PodLike): boolean {
  const t = pod.metadata?.deletionTimestamp;
  return t !== undefined && t !== null && t !== '';
}

function boundOf(bound: InPlaceBound | undefined): InPlaceBound {
  const b = bound ?? DEFAULT_IN_PLACE_BOUND;
  return {
    maxRestores: Number.isFinite(b.maxRestores) ? Math.max(0, Math.floor(b.maxRestores)) : DEFAULT_IN_PLACE_BOUND.maxRestores,
    windowMs: Number.isFinite(b.windowMs) ? Math.max(0, b.windowMs) : DEFAULT_IN_PLACE_BOUND.windowMs,
  };
}

/** "10m", "90s", "2h": for Event messages. */
function duration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A JSON object (typed wire objects may still hold anything: never trust their shape). */
function isObject<T>(v: T): v is T & object {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return isObject(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Milliseconds of an RFC 3339 string or a Date (client-node delivers Dates). */
function timeMs(v: unknown): number | undefined {
  const ms = v instanceof Date ? v.getTime() : typeof v === 'string' && v !== '' ? Date.parse(v) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}
