// One checkpoint job on the agent's node: CheckpointRequest InProgress -> kubelet checkpoint (its
// own kubelet, or through the node proxy) -> archive streamed into the registry -> Checkpoint recorded (only after
// the manifest is stored) -> CheckpointRequest Completed -> older local archives deleted.
//
// Archives: the kubelet's archive is recorded in the node's ledger as this container's the
// moment the kubelet reports it, and clean-up deletes only what the ledger records for this
// very container. Jobs whose archive names could collide (archive-turns.ts) take turns.
//
// Retries: a transient failure is thrown back to BullMQ, which retries with exponential backoff;
// a permanent one marks the request Failed at once, emits an Event and throws UnrecoverableError
// so BullMQ does not retry. The last attempt's failure also marks the request Failed. A retry
// resumes from a Checkpoint an earlier attempt created (same deterministic name) instead of
// taking a second checkpoint.
import { checkpointOptOut } from '../rules/opt-in.ts';
import { posix } from 'node:path';
import type { V1Node } from '@kubernetes/client-node';
import { UnrecoverableError } from 'bullmq';
import { ANNOTATIONS, API_VERSION, type Checkpoint, type CheckpointRequest, type CheckpointRequestPhase, type CheckpointRequestStatus, type Condition } from '../api/types.ts';
import { checkpointRequestConditions, observedGeneration } from '../api/conditions.ts';
import type { Logger } from '../log.ts';
import type { CheckpointJobData } from '../schedule/fan-out.ts';
import type { CheckpointCall } from '../kubelet/checkpoint-call.ts';
import type { PushedImage } from '../images/push-checkpoint-image.ts';
import { podIdentity, type PodIdentity } from '../rules/identity.ts';
import { AgentFailure } from './agent-failure.ts';
import { parseRuntimeVersion } from '../rules/restore-capability.ts';
import { archiveMismatch, ArchiveFactsError, type ArchiveFacts } from './archive-facts.ts';
import type { AgentKube } from './agent-kube.ts';
import type { ArchiveFolder } from './archive-folder.ts';
import { EMPTY_LEDGER, withArchive, withoutArchives, type LedgerEntry } from './archive-ledger.ts';
import type { ArchiveLedgerFile } from './archive-ledger-file.ts';
import { archiveFileName, archivePrefix, archiveTime, ArchivePathError } from './archive-path.ts';
import { archiveRetention } from './archive-retention.ts';
import type { ArchiveTurns, Turn } from './archive-turns.ts';
import { buildCheckpoint, checkpointName, containerImage, failedCheckpointStatus, imageBuiltStatus, nodeArchitecture, originalSoftware } from './checkpoint-object.ts';
import { classifyFailure, type ClassifiedFailure } from './classify-failure.ts';
import type { ImagePushers } from './image-pusher.ts';
import type { CheckpointJobMetrics, JobOutcome as AttemptOutcome } from './agent-metrics.ts';
import { RegistryError } from '../images/registry-error.ts';

export interface CheckpointJobDeps {
  node: string;
  kube: AgentKube;
  /** Asks the kubelet; `node` is this node as just read (where to reach its kubelet directly). */
  kubelet: (call: CheckpointCall, node: V1Node) => Promise<string>;
  images: ImagePushers;
  archives: ArchiveFolder;
  /** The node's record of the archives this agent got from the kubelet, and whose they are. */
  ledger: ArchiveLedgerFile;
  /** Shared by all jobs of this agent: jobs whose archive names could collide take turns. */
  turns: ArchiveTurns;
  /** Newest archives kept per container on the node after a successful push. */
  keepArchives: number;
  /** `namespace/name` of the registry Secret (named in messages, never its content). */
  registrySecret: string;
  now: () => Date;
  log: Logger;
  /** Archive names a running job of this agent still reads; retention skips them. */
  inUse?: Set<string>;
  /** Where durations, sizes and failures are counted (agent-metrics.ts); none: not counted. */
  metrics?: CheckpointJobMetrics;
}

export interface Attempt {
  /** 1-based. */
  number: number;
  max: number;
}

export type JobOutcome =
  | { result: 'completed'; checkpoint: string; image: string; resumed: boolean }
  | { result: 'skipped'; why: string };

const DEFAULT_TIMEOUT_SECONDS = 300;

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export async function processCheckpointJob(data: CheckpointJobData, attempt: Attempt, deps: CheckpointJobDeps): Promise<JobOutcome> {
  const metrics = deps.metrics;
  if (!metrics) return attemptJob(data, attempt, deps);
  const started = performance.now();
  let outcome: AttemptOutcome = 'failed';
  metrics.started();
  try {
    const result = await attemptJob(data, attempt, deps, (o) => (outcome = o));
    outcome = result.result;
    return result;
  } finally {
    metrics.finished(outcome, (performance.now() - started) / 1000);
  }
}

async function attemptJob(data: CheckpointJobData, attempt: Attempt, deps: CheckpointJobDeps, onFailure?: (o: 'failed' | 'retried') => void): Promise<JobOutcome> {
  const log = deps.log.child({ namespace: data.namespace, pod: data.podName, container: data.containerName, uid: data.podUid, node: deps.node, request: data.requestName });
  try {
    const prefix = archivePrefix(data.podName, data.namespace, data.containerName);
    if (deps.turns.busy(prefix)) log.info({ archivePrefix: prefix }, 'waiting: a checkpoint whose archive names could collide with this one runs on this node');
    return await deps.turns.run(prefix, (turn) => run(data, attempt, deps, log, turn));
  } catch (err) {
    const failure = classifyFailure(err, {
      node: deps.node,
      namespace: data.namespace,
      pod: data.podName,
      container: data.containerName,
      registrySecret: deps.registrySecret,
    });
    const final = !failure.transient || attempt.number >= attempt.max;
    onFailure?.(final ? 'failed' : 'retried');
    if (final) deps.metrics?.failed(failure.reason);
    log.warn({ reason: failure.reason, transient: failure.transient, attempt: attempt.number, maxAttempts: attempt.max, err: failure.message }, final ? 'checkpoint failed' : 'checkpoint attempt failed, retrying');
    await recordFailure(data, attempt, failure, final, deps, log);
    if (!failure.transient) throw new UnrecoverableError(`${failure.reason}: ${failure.message}`);
    throw err;
  }
}

async function run(data: CheckpointJobData, attempt: Attempt, deps: CheckpointJobDeps, log: Logger, turn: Turn): Promise<JobOutcome> {
  const { kube } = deps;
  const ns = data.namespace;
  const read = await kube.getRequest(ns, data.requestName);
  if (!read) {
    log.info('CheckpointRequest is gone; dropping the job');
    return { result: 'skipped', why: 'request deleted' };
  }
  const phase = read.status?.phase;
  if (phase === 'Completed' || phase === 'Failed') return { result: 'skipped', why: `request already ${phase}` };
  if (read.spec.podReference.name !== data.podName || read.spec.containerName !== data.containerName) {
    throw new AgentFailure('JobMismatch', `the queued job (pod ${data.podName}, container ${data.containerName}) does not match CheckpointRequest ${ns}/${data.requestName}`);
  }
  const requestUid = read.metadata.uid ?? '';
  // From here on `request` is the request as this write left it: the next phase's conditions follow from these.
  const request = await writeRequestPhase(deps, read, {
    phase: 'InProgress',
    startTime: read.status?.startTime ?? rfc3339(deps.now()),
    nodeName: deps.node,
    attempts: attempt.number,
    message: `checkpointing on node ${deps.node} (attempt ${attempt.number} of ${attempt.max})`,
  });

  const name = checkpointName(data.requestName, requestUid);
  const existing = await kube.getCheckpoint(ns, name);
  if (existing) return resume(request, existing, deps, log);

  const pod = await kube.getPod(ns, data.podName);
  if (!pod) throw new AgentFailure('PodNotFound', `pod ${ns}/${data.podName} no longer exists`);
  const podUid = pod.metadata?.uid ?? '';
  if (data.podUid !== '' && podUid !== data.podUid) {
    throw new AgentFailure('PodReplaced', `pod ${ns}/${data.podName} was replaced (it now has UID ${podUid}; the checkpoint was asked for UID ${data.podUid})`);
  }
  if (pod.spec?.nodeName !== deps.node) {
    throw new AgentFailure('WrongNode', `pod ${ns}/${data.podName} runs on node ${pod.spec?.nodeName ?? '(none)'}, not on ${deps.node}, whose agent got the job`);
  }
  // Checked again here, not only when the controller queued it: the pod may have opted out since.
  const optOut = checkpointOptOut(pod.metadata?.annotations);
  if (optOut !== undefined) throw new AgentFailure('OptedOut', `pod ${ns}/${data.podName} opted out of checkpoints (${optOut}): its memory is not dumped`);
  const node = await kube.getNode(deps.node);
  const architecture = nodeArchitecture(node);
  if (!architecture) throw new AgentFailure('UnknownArchitecture', `node ${deps.node} has no kubernetes.io/arch label and reports no architecture`);
  const identity: PodIdentity = podIdentity(pod.metadata, ns, { replicaSet: () => undefined }) ?? {
    identity: data.podName,
    kind: 'Pod',
    workload: data.podName,
  };

  // An earlier attempt's archive of this pod on this node is pushed as it is: a second kubelet
  // call would freeze the container again for a state no newer in any way the user asked for.
  const earlier = read.status?.nodeName === deps.node ? read.status.archive : undefined;
  // The status is trusted for nothing: a name that is not an archive of this very container
  // (another pod's, another namespace's, a path) is refused, and nothing is pushed.
  if (earlier !== undefined && (earlier !== posix.basename(earlier) || archiveTime(earlier, archivePrefix(data.podName, ns, data.containerName)) === undefined)) {
    throw new AgentFailure('ArchiveMismatch', `status.archive ${JSON.stringify(earlier)} is not an archive of container ${data.containerName} of pod ${ns}/${data.podName}: refused, nothing pushed`);
  }
  let archiveFile: string;
  const owner = (): LedgerEntry => ({ namespace: ns, pod: data.podName, podUid, container: data.containerName, requestUid, recordedAt: rfc3339(deps.now()) });
  const fromEarlier = earlier !== undefined && (await deps.archives.exists(earlier));
  if (fromEarlier) {
    archiveFile = earlier;
    log.info({ archive: archiveFile }, 'pushing the archive an earlier attempt took');
  } else {
    const reported = await turn.kubelet(() =>
      deps.kubelet({
        node: deps.node,
        namespace: ns,
        pod: data.podName,
        container: data.containerName,
        timeoutSeconds: request.spec.timeoutSeconds ?? data.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
      }, node),
    );
    archiveFile = archiveFileName(reported);
    log.info({ archive: archiveFile }, 'kubelet wrote the checkpoint archive');
    if (!(await deps.archives.exists(archiveFile))) {
      throw new ArchivePathError(
        `the kubelet wrote ${reported}, but ${deps.archives.path(archiveFile)} does not exist here: KCR_CHECKPOINT_DIR must be the node's /var/lib/kubelet/checkpoints (a hostPath mount)`,
      );
    }
    await recordArchive(deps, archiveFile, owner(), 'replace', log);
    await kube.patchRequestStatus(ns, data.requestName, { archive: archiveFile });
  }
  // Only the archive of the container asked for is pushed: one naming another pod is refused.
  const facts = await checkedFacts(deps, archiveFile, { namespace: ns, pod: data.podName, container: data.containerName, podUid });
  // An earlier attempt recorded it when the kubelet reported it; if that record was lost (a
  // failed write, a ledger set aside), the archive's own contents have just said whose it is.
  if (fromEarlier) await recordArchive(deps, archiveFile, owner(), 'if-absent', log);
  const runtime = { name: facts.runtime, ...versionOf(facts.runtime, node) };
  // Asked after the kubelet: for a container the pod lacks, its 404 says so (ContainerNotFound).
  const running = containerImage(pod, data.containerName);
  if (!running) throw new AgentFailure('ContainerNotFound', `pod ${ns}/${data.podName} has no container ${data.containerName}`);
  const restoredFrom = pod.metadata?.annotations?.[`${ANNOTATIONS.restoredFromContainerPrefix}${data.containerName}`];
  const image = originalSoftware(running, restoredFrom ? await kube.getCheckpoint(ns, restoredFrom) : undefined);
  const takenAt = archiveTime(archiveFile, archivePrefix(data.podName, ns, data.containerName)) ?? deps.now();

  const pushed = await pushArchive(deps, archiveFile, {
    container: data.containerName,
    pod: data.podName,
    namespace: ns,
    identity: identity.identity,
    originalImage: image.image,
    createdAt: takenAt,
    architecture,
    runtime: runtime.name,
    baseImage: facts.baseImage,
  });
  log.info({ image: pushed.reference, bytes: pushed.sizeBytes, layerSkipped: pushed.layerSkipped }, 'checkpoint image stored');

  const checkpoint = buildCheckpoint({
    name,
    namespace: ns,
    request: { name: data.requestName, uid: requestUid },
    scheduleRef:
      request.spec.checkpointScheduleRef ??
      (data.schedule?.kind === 'CheckpointSchedule' && data.schedule.name !== '' ? { name: data.schedule.name } : undefined),
    podName: data.podName,
    podUid,
    container: data.containerName,
    node: deps.node,
    identity,
    originalImage: image.image,
    originalImageDigest: image.digest,
    ...(running.imageID !== undefined ? { originalImageID: running.imageID } : {}),
    runtime,
    baseImage: facts.baseImage,
    architecture,
    archiveFile,
    takenAt,
    sizeBytes: pushed.sizeBytes,
    archiveDigest: pushed.diffId,
  });
  // The image exists now: only from here on may a Checkpoint point at it.
  const created = await kube.createCheckpoint(checkpoint);
  return finish(request, { name, generation: created.generation }, pushed, false, archiveFile, deps, log);
}

/** A retried job whose earlier attempt created the Checkpoint: finish what is left. */
async function resume(request: CheckpointRequest, cp: Checkpoint, deps: CheckpointJobDeps, log: Logger): Promise<JobOutcome> {
  const ns = request.metadata.namespace!;
  const name = cp.metadata.name!;
  const runtimeImage = cp.status?.runtimeImage;
  if (cp.status?.phase === 'ImageBuilt' && runtimeImage) {
    await completeRequest(request, name, runtimeImage, deps);
    return { result: 'completed', checkpoint: name, image: runtimeImage, resumed: true };
  }
  const s = cp.spec;
  const archiveFile = s.checkpointData;
  if (!archiveFile || !s.podName || !s.identity || !s.originalImage || !s.architecture || !(await deps.archives.exists(archiveFile))) {
    const why = `Checkpoint ${ns}/${name} was recorded by an earlier attempt but its archive ${archiveFile ?? '(none)'} is no longer on node ${deps.node}`;
    await deps.kube.patchCheckpointStatus(ns, name, failedCheckpointStatus(why, deps.now(), { conditions: cp.status?.conditions, generation: cp.metadata.generation }));
    throw new AgentFailure('ArchiveLost', why);
  }
  log.info({ checkpoint: name, archive: archiveFile }, 'resuming a checkpoint an earlier attempt recorded');
  const pushed = await pushArchive(deps, archiveFile, {
    container: s.containerName,
    pod: s.podName,
    namespace: ns,
    identity: s.identity,
    originalImage: s.originalImage,
    createdAt: s.checkpointTimestamp ? new Date(s.checkpointTimestamp) : deps.now(),
    architecture: s.architecture,
    ...(s.runtime ? { runtime: s.runtime.name } : {}),
    ...(s.baseImage ? { baseImage: s.baseImage } : {}),
  });
  return finish(request, { name, conditions: cp.status?.conditions, generation: cp.metadata.generation }, pushed, true, archiveFile, deps, log);
}

/** The archive's own facts, refused (permanently) when unreadable or of another container. */
async function checkedFacts(deps: CheckpointJobDeps, archiveFile: string, want: { namespace: string; pod: string; container: string; podUid: string }): Promise<ArchiveFacts> {
  let facts: ArchiveFacts;
  try {
    facts = await deps.archives.facts(archiveFile);
  } catch (err) {
    if (err instanceof ArchiveFactsError) throw new AgentFailure('ArchiveUnreadable', `archive ${archiveFile}: ${err.message}`);
    throw err;
  }
  const mismatch = archiveMismatch(facts, want);
  if (mismatch !== undefined) throw new AgentFailure('ArchiveMismatch', `archive ${archiveFile} was not pushed: ${mismatch}`);
  return facts;
}

/** The node's runtime version, when the node reports the runtime that wrote the archive. */
function versionOf(runtime: string, node: { status?: { nodeInfo?: { containerRuntimeVersion?: string } } }): { version?: string } {
  const reported = parseRuntimeVersion(node.status?.nodeInfo?.containerRuntimeVersion);
  return reported !== undefined && reported.name === runtime ? { version: reported.version } : {};
}

async function pushArchive(
  deps: CheckpointJobDeps,
  archiveFile: string,
  meta: { container: string; pod: string; namespace: string; identity: string; originalImage: string; createdAt: Date; architecture: string; runtime?: string; baseImage?: { name?: string; ref?: string } },
): Promise<PushedImage> {
  const dockerConfig = await deps.kube.registryDockerConfig();
  deps.inUse?.add(archiveFile);
  try {
    const pushed = await deps.images(dockerConfig).push({ ...meta, archivePath: deps.archives.path(archiveFile) });
    deps.metrics?.pushed(pushed.sizeBytes, !pushed.layerSkipped);
    return pushed;
  } catch (err) {
    // An unreadable archive is the node's problem, not the registry's.
    if (err instanceof RegistryError && err.kind !== 'source') deps.metrics?.registryError('push');
    throw err;
  } finally {
    deps.inUse?.delete(archiveFile);
  }
}

async function finish(
  request: CheckpointRequest,
  cp: { name: string; conditions?: Condition[] | undefined; generation?: number | undefined },
  pushed: PushedImage,
  resumed: boolean,
  archiveFile: string,
  deps: CheckpointJobDeps,
  log: Logger,
): Promise<JobOutcome> {
  const ns = request.metadata.namespace!;
  const name = cp.name;
  await deps.kube.patchCheckpointStatus(
    ns,
    name,
    imageBuiltStatus({ tagReference: `${pushed.registry}/${pushed.repository}:${pushed.tag}`, digestReference: pushed.reference }, deps.now(), cp),
  );
  await completeRequest(request, name, pushed.reference, deps);
  log.info({ checkpoint: name, image: pushed.reference }, 'checkpoint recorded');
  await cleanUpArchives(request, archiveFile, deps, log);
  return { result: 'completed', checkpoint: name, image: pushed.reference, resumed };
}

async function completeRequest(request: CheckpointRequest, checkpoint: string, image: string, deps: CheckpointJobDeps): Promise<void> {
  const message = `Checkpoint ${checkpoint} stored as ${image}`;
  await writeRequestPhase(deps, request, {
    phase: 'Completed',
    completionTime: rfc3339(deps.now()),
    checkpoint: { name: checkpoint },
    message,
  });
  await emit(deps, request, 'Normal', 'CheckpointCreated', message);
}

/**
 * Notes the archive as this owner's in the node's ledger. 'replace': the kubelet has just written
 * it for this job, whoever it was recorded for before. A failure costs only its later clean-up
 * (an unrecorded archive is never deleted), so it never fails the job.
 */
async function recordArchive(deps: CheckpointJobDeps, name: string, entry: LedgerEntry, mode: 'replace' | 'if-absent', log: Logger): Promise<void> {
  try {
    await deps.ledger.exclusive(async () => {
      const read = await deps.ledger.read();
      let ledger = EMPTY_LEDGER;
      if (read.ok) {
        ledger = read.ledger;
      } else {
        // What it recorded is unknown: those archives are never deleted; new ones are recorded afresh.
        const keptAt = await deps.ledger.setAside();
        log.warn({ ledger: deps.ledger.path, keptAt, why: read.why }, 'the archive ledger was unreadable; set aside and started anew (archives it recorded stay on the node)');
      }
      const prior = ledger.get(name);
      if (mode === 'if-absent' && prior !== undefined) return;
      if (prior !== undefined && (prior.namespace !== entry.namespace || prior.pod !== entry.pod || prior.container !== entry.container)) {
        log.info({ archive: name, previous: { namespace: prior.namespace, pod: prior.pod, container: prior.container, uid: prior.podUid } }, 'the kubelet wrote an archive name recorded for another container; it is recorded for this one now');
      }
      await deps.ledger.write(withArchive(ledger, name, entry));
    });
  } catch (err) {
    log.warn({ archive: name, err: err instanceof Error ? err.message : String(err) }, 'could not record the archive in the ledger; retention will leave it on the node');
  }
}

/**
 * Keeps the newest archives of this container on the node, choosing only among those the ledger
 * records for it; an unreadable ledger deletes nothing. A failure here never fails the job.
 */
async function cleanUpArchives(request: CheckpointRequest, justPushed: string, deps: CheckpointJobDeps, log: Logger): Promise<void> {
  try {
    await deps.ledger.exclusive(async () => {
      const read = await deps.ledger.read();
      if (!read.ok) {
        log.warn({ ledger: deps.ledger.path, why: read.why }, 'the archive ledger is unreadable; no archive deleted');
        return;
      }
      const owner = { pod: request.spec.podReference.name, namespace: request.metadata.namespace!, container: request.spec.containerName };
      const inUse = new Set([...(deps.inUse ?? []), ...(deps.keepArchives > 0 ? [justPushed] : [])]);
      const plan = archiveRetention(read.ledger, await deps.archives.list(), owner, deps.keepArchives, inUse);
      const failed = new Set<string>();
      for (const name of plan.remove) {
        await deps.archives.remove(name).catch((err: unknown) => {
          failed.add(name);
          log.warn({ archive: name, err: err instanceof Error ? err.message : String(err) }, 'could not delete an older checkpoint archive');
        });
      }
      const forget = plan.forget.filter((n) => !failed.has(n));
      if (forget.length > 0) await deps.ledger.write(withoutArchives(read.ledger, forget));
      const deleted = plan.remove.filter((n) => !failed.has(n));
      if (deleted.length > 0) log.info({ deleted }, 'deleted older checkpoint archives on this node');
    });
  } catch (err) {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'deleting older checkpoint archives failed');
  }
}

async function recordFailure(
  data: CheckpointJobData,
  attempt: Attempt,
  failure: ClassifiedFailure,
  final: boolean,
  deps: CheckpointJobDeps,
  log: Logger,
): Promise<void> {
  try {
    const request = await deps.kube.getRequest(data.namespace, data.requestName);
    if (!request || request.status?.phase === 'Completed' || request.status?.phase === 'Failed') return;
    if (final) {
      await writeRequestPhase(deps, request, {
        phase: 'Failed',
        completionTime: rfc3339(deps.now()),
        nodeName: deps.node,
        attempts: attempt.number,
        message: `${failure.reason}: ${failure.message}`,
      }, failure.reason);
      await emit(deps, request, 'Warning', failure.reason, failure.message);
    } else {
      await deps.kube.patchRequestStatus(data.namespace, data.requestName, {
        attempts: attempt.number,
        message: `attempt ${attempt.number} of ${attempt.max} failed, retrying: ${failure.reason}: ${failure.message}`,
      });
    }
  } catch (err) {
    // The API server may be what failed; BullMQ's retry or the controller will see it.
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not record the failure on the CheckpointRequest');
  }
}

/**
 * Merge-patches a phase into the request's status with the conditions (Complete, Failed) and
 * observedGeneration that follow from it after `request`'s; returns the request as written.
 */
async function writeRequestPhase(
  deps: CheckpointJobDeps,
  request: CheckpointRequest,
  status: CheckpointRequestStatus & { phase: CheckpointRequestPhase },
  reason?: string,
): Promise<CheckpointRequest> {
  const generation = request.metadata.generation;
  const written: CheckpointRequestStatus = {
    ...status,
    conditions: checkpointRequestConditions(request.status?.conditions, { phase: status.phase, message: status.message, reason, generation, now: deps.now() }),
    ...observedGeneration(generation),
  };
  await deps.kube.patchRequestStatus(request.metadata.namespace!, request.metadata.name!, written);
  return { ...request, status: { ...request.status, ...written } };
}

async function emit(deps: CheckpointJobDeps, request: CheckpointRequest, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
  try {
    await deps.kube.event({
      namespace: request.metadata.namespace!,
      involved: { apiVersion: API_VERSION, kind: 'CheckpointRequest', name: request.metadata.name!, uid: request.metadata.uid },
      type,
      reason,
      message,
    });
  } catch (err) {
    deps.log.warn({ err: err instanceof Error ? err.message : String(err), reason }, 'could not emit an Event');
  }
}
