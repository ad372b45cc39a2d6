// `npm run demo`: kcr's main job on a local cluster, narrated step by step.
//
// It starts (or builds, the first time) a real Kubernetes control plane on loopback, kcr's
// whole stack next to it (test/cluster/kcr-stack.ts: Redis, a registry, nodes that run the real
// kubelet over a simulated CRI-O runtime, and kcr's webhook, controller and agents as local
// processes with their own ServiceAccounts),
// deploys a stateful sample app, and shows: its state growing, checkpoints appearing (on demand
// and on the app's one-minute schedule), the pod killed, and its replacement restored from the
// latest checkpoint with its state continuing, then a live migration to the other node with a
// RestoreRequest (checkpointFirst). Ctrl-C cleans up at any point; so does the end, unless --keep.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ApiException, AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1ObjectMeta, type V1Pod } from '@kubernetes/client-node';
import { ANNOTATIONS, GROUP, PLURALS, VERSION, type Checkpoint, type CheckpointRequest, type RestoreRequest } from '../../src/api/types.ts';
import { CAPABILITY_LABELS, CAPABILITY_REASON_ANNOTATION } from '../../src/rules/restore-capability.ts';
import { controlPlaneBinDir, ensureClusterUp, stopCluster, type ClusterState } from '../cluster/local-cluster.ts';
import { describeStack, startStack, stopStack, type StackState } from '../cluster/kcr-stack.ts';
import { KCR_DIR } from '../cluster/pki.ts';
import { appState, type AppState } from '../cluster/nodes/app-log.ts';
import { readCheckpointArchive, type SavedAppState } from '../support/checkpoint-archive.ts';
import { pullCheckpointImage } from '../support/checkpoint-image.ts';
import { bytes, Narrator, secondsToNextMinute } from './narration.ts';

const usage = `usage: npm run demo [-- --keep] [-- --state-dir <dir>]

Starts a local Kubernetes control plane (built from source the first time: about 25 minutes,
then cached in ~/.cache/kcr), kcr's stack, and a stateful sample app, and narrates kcr
checkpointing it and restoring its replacement. Takes about 3 minutes on a warm cache.

  --keep               leave everything running at the end (stop it with npm run cluster:down)
  --state-dir <dir>    where state, logs and data go (default: .kcr in the checkout)
  --netns-offset <n>   first node address index in the node network (default 0)
  --webhook-certs <m>  self (kcr's own CA, default) or files (a pair made by the demo)
Ctrl-C stops and removes everything the demo started, at any point.
`;

const NS = 'kcr-demo';
const APP = 'counter';
const POD = 'counter-0';
const CONTAINER = 'counter';
const SCHEDULE = '*/1 * * * *';
const REQUEST = 'counter-0-now';
const MIGRATION = 'counter-0-migrate';
/** A mixed pool: two CRI-O nodes that restore and a containerd 2.4 node, which removed restore from an image. */
const NODE_PROFILES = ['cri-o-1.34', 'cri-o-1.34', 'containerd-2.4'];
/** Steps of the story; issue 5's migration step will make it 10. */
const TOTAL_STEPS = 10;

interface Flags {
  keep: boolean;
  help: boolean;
  stateDir: string;
  netnsOffset: number;
  webhookCerts: 'self' | 'files';
}

function parseFlags(argv: string[]): Flags {
  const { values } = parseArgs({
    args: argv,
    options: {
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      'state-dir': { type: 'string', default: KCR_DIR },
      'netns-offset': { type: 'string', default: '0' },
      'webhook-certs': { type: 'string', default: 'self' },
    },
    strict: true,
    allowPositionals: false,
  });
  const offset = Number(values['netns-offset']);
  if (!Number.isInteger(offset) || offset < 0 || offset > 190) throw new Error(`--netns-offset must be an integer 0..190, got ${values['netns-offset']}`);
  const certs = values['webhook-certs'];
  if (certs !== 'self' && certs !== 'files') throw new Error(`--webhook-certs must be self or files, got ${certs}`);
  return { keep: values.keep, help: values.help, stateDir: values['state-dir'], netnsOffset: offset, webhookCerts: certs };
}

class DemoFailure extends Error {
  override name = 'DemoFailure';
}

class Interrupted extends Error {
  override name = 'Interrupted';
}

interface Clients {
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
}

function clientsFor(kubeconfig: string): Clients {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), custom: kc.makeApiClient(CustomObjectsApi) };
}

function code(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

function message(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = err.body;
    if (typeof body === 'string') {
      try {
        return String((JSON.parse(body) as { message?: unknown }).message ?? body);
      } catch {
        return body;
      }
    }
    if (body !== null && typeof body === 'object' && 'message' in body) return String(body.message);
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Polls `probe` every `intervalMs` until it returns a value; reports progress every
 * `progressMs` through `progress` (with the last thing seen); fails with `what` on timeout.
 */
async function waitFor<T>(
  signal: AbortSignal,
  what: string,
  timeoutMs: number,
  probe: () => Promise<{ done: T } | { seen: string }>,
  progress?: (seen: string, waitedMs: number) => void,
  intervalMs = 1000,
  progressMs = 10_000,
): Promise<T> {
  const start = Date.now();
  let lastProgress = start;
  let seen: string;
  for (;;) {
    if (signal.aborted) throw new Interrupted('interrupted');
    try {
      const r = await probe();
      if ('done' in r) return r.done;
      seen = r.seen;
    } catch (err) {
      // A probe that knows the story failed says so at once; anything else may pass.
      if (err instanceof DemoFailure) throw err;
      seen = `error: ${message(err)}`;
    }
    const now = Date.now();
    if (now - start > timeoutMs) throw new DemoFailure(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}; last seen: ${seen}`);
    if (progress && now - lastProgress >= progressMs) {
      lastProgress = now;
      progress(seen, now - start);
    }
    await sleep(intervalMs, undefined, { signal }).catch(() => {});
  }
}

// ---------- reading the app and kcr's objects ----------

async function readAppState(c: Clients): Promise<AppState> {
  // As `kubectl logs` shows it: the app logs its counter (its memory) every second, and how it
  // started (fresh, or restored from a checkpoint image).
  return appState(c.core, NS, POD, CONTAINER);
}

async function getPod(c: Clients): Promise<V1Pod | undefined> {
  try {
    return await c.core.readNamespacedPod({ name: POD, namespace: NS });
  } catch (err) {
    if (code(err) === 404) return undefined;
    throw err;
  }
}

function podRunning(p: V1Pod | undefined): boolean {
  return p?.status?.phase === 'Running' && (p.status.containerStatuses ?? []).some((s) => s.name === CONTAINER && s.ready === true);
}

function podSummary(p: V1Pod | undefined): string {
  if (!p) return `pod ${POD} does not exist`;
  const cs = p.status?.containerStatuses?.find((s) => s.name === CONTAINER);
  const waiting = cs?.state?.waiting ? ` (${cs.state.waiting.reason ?? ''}${cs.state.waiting.message ? `: ${cs.state.waiting.message}` : ''})` : '';
  return `pod ${POD} ${p.status?.phase ?? 'Pending'}${p.spec?.nodeName ? ` on ${p.spec.nodeName}` : ' (not scheduled yet)'}${waiting}`;
}

async function listCheckpoints(c: Clients): Promise<Checkpoint[]> {
  const list = (await c.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: PLURALS.Checkpoint })) as { items: Checkpoint[] };
  return list.items.filter((cp) => cp.spec.podName === undefined || cp.spec.podName === POD);
}

function usable(cp: Checkpoint): boolean {
  return cp.status?.phase === 'ImageBuilt' && typeof cp.status.runtimeImage === 'string';
}

/** The counter stored in a checkpoint image: pulled from the registry with skopeo, archive read. */
async function checkpointedState(stack: StackState, image: string): Promise<SavedAppState> {
  const pulled = await pullCheckpointImage(image, { ...(stack.registry.authFile ? { authFile: stack.registry.authFile } : {}), insecure: true });
  return (await readCheckpointArchive(pulled.archive)).state;
}

async function describeCheckpoint(n: Narrator, stack: StackState, cp: Checkpoint, how: string): Promise<SavedAppState | undefined> {
  n.info(`${how} checkpoint: ${cp.metadata.name}`);
  n.info(`    container ${cp.spec.containerName} of ${cp.spec.podName ?? POD} on ${cp.spec.nodeName ?? '?'}, taken ${cp.spec.checkpointTimestamp ?? cp.metadata.creationTimestamp ?? '?'}`);
  n.info(`    size ${bytes(cp.spec.sizeBytes)}, image ${cp.status?.runtimeImage ?? cp.status?.checkpointImage ?? '?'}`);
  try {
    const state = cp.status?.runtimeImage ? await checkpointedState(stack, cp.status.runtimeImage) : undefined;
    if (state) n.info(`    inside the image (pulled from the registry): counter=${state.counter}`);
    return state;
  } catch (err) {
    n.info(`    (could not read the image back from the registry: ${message(err)})`);
    return undefined;
  }
}

// ---------- the sample app ----------

function statefulSet(): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: APP,
      namespace: NS,
      labels: { app: APP },
      // The original kcr's opt-in: checkpoint on this cron, restore replacements.
      annotations: { [ANNOTATIONS.workloadSchedule]: SCHEDULE },
    },
    spec: {
      serviceName: APP,
      replicas: 1,
      selector: { matchLabels: { app: APP } },
      template: {
        metadata: { labels: { app: APP }, annotations: { [ANNOTATIONS.restore]: 'true' } },
        spec: {
          terminationGracePeriodSeconds: 5,
          // On a mixed pool, a pod whose memory should survive runs where checkpoints restore:
          // its first checkpoint is then one a capable node can take.
          affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: CAPABILITY_LABELS.capable, operator: 'In', values: ['true'] }] }] } } },
          containers: [
            {
              name: CONTAINER,
              image: 'busybox:1.37',
              // What the app would be on a real node; the node's simulated runtime runs its counter.
              command: ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo "count=$i"; sleep 1; done'],
              resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
            },
          ],
        },
      },
    },
  };
}

async function freshNamespace(c: Clients, signal: AbortSignal, n: Narrator): Promise<void> {
  const exists = await c.core.readNamespace({ name: NS }).then(() => true, (err: unknown) => {
    if (code(err) === 404) return false;
    throw err;
  });
  if (exists) {
    n.info(`deleting the namespace ${NS} left from an earlier run`);
    await c.core.deleteNamespace({ name: NS }).catch((err: unknown) => {
      if (code(err) !== 404) throw err;
    });
    await waitFor(signal, `namespace ${NS} to be gone`, 90_000, async () => {
      try {
        await c.core.readNamespace({ name: NS });
        return { seen: 'still terminating' };
      } catch (err) {
        if (code(err) === 404) return { done: true };
        throw err;
      }
    });
  }
  await c.core.createNamespace({ body: { metadata: { name: NS } } });
  await waitFor(signal, `ServiceAccount default in ${NS}`, 30_000, async () => {
    await c.core.readNamespacedServiceAccount({ name: 'default', namespace: NS });
    return { done: true };
  });
}

// ---------- the story ----------

interface Run {
  flags: Flags;
  n: Narrator;
  signal: AbortSignal;
  /** What this run started, so cleanup stops only that. */
  startedCluster: boolean;
  startedStack: boolean;
  cluster?: ClusterState;
  stack?: StackState;
}

/** The last warnings and errors kcr's components logged (JSON lines), to say why a step failed. */
function recentProblems(stack: StackState, perComponent = 3): string[] {
  const out: string[] = [];
  for (const p of stack.processes) {
    if (!/^(webhook|controller|agent)/.test(p.name)) continue;
    let lines: string[];
    try {
      lines = readFileSync(p.logFile, 'utf8').split('\n');
    } catch {
      continue;
    }
    const problems = lines.flatMap((l) => {
      try {
        const j = JSON.parse(l) as { level?: string; time?: string; msg?: string; err?: { message?: string } };
        return j.level === 'error' || j.level === 'warn' || j.level === 'fatal'
          ? [`${p.name} ${j.time?.slice(11, 19) ?? ''} ${j.level}: ${j.msg ?? ''}${j.err?.message ? ` (${j.err.message})` : ''}`]
          : [];
      } catch {
        return [];
      }
    });
    out.push(...problems.slice(-perComponent));
  }
  return out;
}

async function story(run: Run): Promise<void> {
  const { n, signal, flags } = run;

  n.begin('Kubernetes control plane binaries (etcd, kube-apiserver, controller-manager, scheduler, kubectl)');
  n.info('built from the official Go modules on the first run (about 25 minutes on 2 cores), then reused from ~/.cache/kcr/controlplane');
  const buildStart = Date.now();
  const ticker = setInterval(() => n.info(`still building the control plane… ${Math.round((Date.now() - buildStart) / 60_000)} min so far (about 25 min the first time)`), 60_000);
  let binDir: string;
  try {
    binDir = await controlPlaneBinDir();
  } finally {
    clearInterval(ticker);
  }
  n.info(`binaries in ${binDir} (${Date.now() - buildStart < 5000 ? 'cached' : `built in ${Math.round((Date.now() - buildStart) / 1000)} s`})`);

  n.begin('Local cluster: a real control plane on 127.0.0.1');
  const up = await ensureClusterUp({ kcrDir: flags.stateDir, binDir, log: (m) => n.info(m) });
  run.cluster = up.state;
  run.startedCluster = !up.alreadyRunning;
  n.info(up.alreadyRunning ? `reusing the cluster already running at ${up.state.server} (it stays up afterwards)` : `cluster up at ${up.state.server} in ${(up.elapsedMs / 1000).toFixed(1)} s`);
  if (signal.aborted) throw new Interrupted('interrupted');

  n.begin(`kcr's stack: Redis, registry, a mixed pool of nodes (real kubelets over simulated ${NODE_PROFILES.join(', ')}), kcr webhook, controller and one agent per node; manifests/ applied`);
  const st = await startStack({
    cluster: up.state,
    kcrDir: flags.stateDir,
    nodeProfiles: NODE_PROFILES,
    netnsOffset: flags.netnsOffset,
    webhookCertSource: flags.webhookCerts,
    log: (m) => n.info(m),
  });
  run.startedStack = !st.alreadyRunning;
  const stack = st.state;
  run.stack = stack;
  if (st.alreadyRunning) n.info('reusing the kcr stack already running (it stays up afterwards)');
  for (const line of describeStack(stack)) n.info(line.trimStart());
  // What each node can restore, as its agent published it (labels restore.kcr.io/runtime, restore.kcr.io/capable).
  const admin = clientsFor(up.state.kubeconfig);
  const capability = new Map<string, { runtime: string | undefined; capable: boolean }>();
  for (const node of stack.nodes) {
    const meta = await waitFor<V1ObjectMeta>(signal, `${node.name}'s restore capability`, 30_000, async () => {
      const m = (await admin.core.readNode({ name: node.name })).metadata;
      return m?.labels?.[CAPABILITY_LABELS.capable] !== undefined ? { done: m } : { seen: 'not published yet' };
    });
    n.info(`${node.name} (${meta.labels?.[CAPABILITY_LABELS.runtime] ?? 'unknown runtime'}) can restore: ${meta.labels?.[CAPABILITY_LABELS.capable] ?? '?'} (${meta.annotations?.[CAPABILITY_REASON_ANNOTATION] ?? 'no reason given'})`);
    capability.set(node.name, { runtime: meta.labels?.[CAPABILITY_LABELS.runtime], capable: meta.labels?.[CAPABILITY_LABELS.capable] === 'true' });
  }
  n.info('the webhook places every restore on a node with restore.kcr.io/capable=true and the checkpoint\'s runtime');
  if (stack.components.missing.length > 0) {
    throw new DemoFailure(`this checkout has no kcr ${stack.components.missing.join(' / ')} command yet: the demo needs the controller and the agent`);
  }
  if (signal.aborted) throw new Interrupted('interrupted');
  const c = clientsFor(up.state.kubeconfig);

  n.begin(`Deploying the sample app: StatefulSet ${APP} in namespace ${NS}, annotated ${ANNOTATIONS.workloadSchedule}: "${SCHEDULE}"`);
  await freshNamespace(c, signal, n);
  await c.apps.createNamespacedStatefulSet({ namespace: NS, body: statefulSet() as never });
  n.info(`applied; pods opt in with ${ANNOTATIONS.restore}: "true", kcr gives ${NS} its own pull-only Secret kcr-pull once it has a checkpoint`);
  const pod = await waitFor<V1Pod>(signal, `${POD} to run`, 90_000, async () => {
    const p = await getPod(c);
    return podRunning(p) ? { done: p! } : { seen: podSummary(p) };
  }, (seen) => n.info(`waiting: ${seen}`));
  const node = pod.spec!.nodeName!;
  const firstUid = pod.metadata!.uid!;
  n.info(`${POD} is Running on ${node} (pod IP ${pod.status?.podIP ?? '?'}, image ${pod.spec!.containers[0]!.image})`);

  n.begin(`The app's state grows: its memory is a counter, +1 every second (kubectl -n ${NS} logs ${POD})`);
  const readings: number[] = [];
  for (let i = 0; i < 3; i++) {
    const s = await waitFor(signal, `the state of ${POD}`, 30_000, async () => ({ done: await readAppState(c) }));
    readings.push(s.counter);
    n.info(`counter=${s.counter}${s.restoredFrom ? ` (restored from ${s.restoredFrom})` : ' (started fresh)'}`);
    if (i < 2) await sleep(2000, undefined, { signal }).catch(() => {});
  }
  if (!(readings[2]! > readings[0]!)) throw new DemoFailure(`the counter did not grow: ${readings.join(' -> ')}`);

  n.begin(`An on-demand checkpoint: CheckpointRequest ${REQUEST}, so we need not wait for the cron`);
  const request: CheckpointRequest = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'CheckpointRequest',
    metadata: { name: REQUEST, namespace: NS },
    spec: { podReference: { name: POD }, containerName: CONTAINER, timeoutSeconds: 60 },
  };
  await c.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: PLURALS.CheckpointRequest, body: request });
  n.info('created; the controller queues it for the agent on the pod\'s node, the agent asks the kubelet for a checkpoint and pushes the archive to the registry');
  let lastPhase = '';
  const done = await waitFor<string>(signal, `CheckpointRequest ${REQUEST} to complete`, 90_000, async () => {
    const r = (await c.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: PLURALS.CheckpointRequest, name: REQUEST })) as CheckpointRequest;
    const phase = r.status?.phase ?? '(no status yet)';
    if (phase !== lastPhase) {
      n.info(`CheckpointRequest phase: ${phase}${r.status?.message ? ` (${r.status.message})` : ''}`);
      lastPhase = phase;
    }
    if (phase === 'Failed') throw new DemoFailure(`CheckpointRequest ${REQUEST} failed: ${r.status?.message ?? 'no message'}`);
    return phase === 'Completed' && r.status?.checkpoint?.name ? { done: r.status.checkpoint.name } : { seen: `phase ${phase}` };
  }, (seen, ms) => n.info(`waiting (${Math.round(ms / 1000)} s): ${seen}`));
  const onDemand = await waitFor<Checkpoint>(signal, `Checkpoint ${done} to have its image`, 30_000, async () => {
    const cp = (await listCheckpoints(c)).find((x) => x.metadata.name === done);
    return cp && usable(cp) ? { done: cp } : { seen: cp ? `phase ${cp.status?.phase ?? 'none'}` : 'not there yet' };
  });
  await describeCheckpoint(n, stack, onDemand, 'On-demand');

  n.begin(`The scheduled checkpoint: the StatefulSet's cron "${SCHEDULE}" fires at the next full minute`);
  n.info(`next run in about ${secondsToNextMinute(new Date())} s`);
  const scheduled = await waitFor<Checkpoint>(signal, 'a checkpoint from the schedule', (secondsToNextMinute(new Date()) + 90) * 1000, async () => {
    const cps = (await listCheckpoints(c)).filter((x) => x.metadata.name !== onDemand.metadata.name);
    const ready = cps.filter(usable);
    if (ready.length > 0) return { done: ready.sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''))[0]! };
    return { seen: cps.length > 0 ? `Checkpoint ${cps[0]!.metadata.name} phase ${cps[0]!.status?.phase ?? 'none'}` : 'no new Checkpoint yet' };
  }, (seen) => n.info(`waiting: ${seen}`));
  await describeCheckpoint(n, stack, scheduled, 'Scheduled');
  const all = (await listCheckpoints(c)).filter(usable);
  n.info(`${all.length} checkpoint(s) of ${POD} so far: ${all.map((x) => x.metadata.name).join(', ')}`);

  n.begin(`Killing the pod: kubectl -n ${NS} delete pod ${POD}`);
  const before = await readAppState(c).catch(() => undefined);
  if (before) n.info(`just before: counter=${before.counter}`);
  await c.core.deleteNamespacedPod({ name: POD, namespace: NS });
  n.info(`deleted; the StatefulSet controller creates a replacement ${POD}, and kcr's webhook rewrites it at admission`);

  n.begin('The replacement is restored from the latest checkpoint, and its state continues');
  const replacement = await waitFor<V1Pod>(signal, `the replacement ${POD} to run`, 120_000, async () => {
    const p = await getPod(c);
    if (!p || p.metadata?.uid === firstUid) return { seen: p ? 'the old pod is still terminating' : 'no replacement yet' };
    return podRunning(p) ? { done: p } : { seen: podSummary(p) };
  }, (seen) => n.info(`waiting: ${seen}`));
  const newNode = replacement.spec!.nodeName!;
  const image = replacement.spec!.containers.find((x) => x.name === CONTAINER)?.image ?? '?';
  const annotations = replacement.metadata?.annotations ?? {};
  const restoredFrom = Object.entries(annotations).filter(([k]) => k === ANNOTATIONS.restoredFrom || k.startsWith(ANNOTATIONS.restoredFromContainerPrefix));
  n.info(`new ${POD} (uid ${replacement.metadata!.uid}) Running on ${newNode} (${capability.get(newNode)?.runtime ?? '?'}, can restore: ${capability.get(newNode)?.capable ?? '?'})`);
  const terms = replacement.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  for (const e of terms[0]?.matchExpressions ?? []) if (e.key.startsWith('restore.kcr.io/')) n.info(`required by the webhook: ${e.key} ${e.operator} [${(e.values ?? []).join(', ')}]`);
  n.info(`its image: ${image}`);
  for (const [k, v] of restoredFrom) n.info(`annotation ${k}: ${v}`);
  if (restoredFrom.length === 0) throw new DemoFailure(`the replacement carries no ${ANNOTATIONS.restoredFrom} annotation: kcr's webhook did not restore it (see ${join(stack.kcrDir, 'logs', 'webhook.log')})`);
  const after = await waitFor(signal, `the state of the new ${POD}`, 30_000, async () => ({ done: await readAppState(c) }));
  n.info(`counter=${after.counter}, restored from ${after.restoredFrom ?? '(nothing: started fresh)'}`);
  if (!after.restoredFrom) throw new DemoFailure(`the new container started fresh: the node's runtime did not restore it from the checkpoint image (kubectl -n ${NS} describe pod ${POD})`);
  // The newest good checkpoint when the pod was killed: the one the webhook chose.
  const chosen = (await listCheckpoints(c)).find((x) => x.metadata.name === annotations[`${ANNOTATIONS.restoredFromContainerPrefix}${CONTAINER}`]);
  const checkpointed = chosen ? await describeCheckpoint(n, stack, chosen, 'Restored from the') : undefined;
  if (checkpointed && after.restoredAt !== checkpointed.counter) {
    throw new DemoFailure(`the app restarted at counter=${after.restoredAt ?? '?'}, but the checkpoint holds counter=${checkpointed.counter}`);
  }
  await sleep(3000, undefined, { signal }).catch(() => {});
  const later = await waitFor(signal, `the state of the new ${POD}`, 30_000, async () => ({ done: await readAppState(c) }));
  const runningFor = Math.max(0, Math.round((Date.now() - Date.parse(later.startedAt)) / 1000));
  n.info(`counter=${later.counter} a few seconds later: it keeps counting`);
  n.info(
    `the count continued from the checkpoint (${checkpointed ? `counter=${checkpointed.counter} when it was taken` : 'its saved value'}` +
      `${chosen && newNode !== chosen.spec.nodeName ? `, taken on ${chosen.spec.nodeName ?? '?'}, restored on ${newNode}` : ''}); ` +
      `a fresh start would be at ${runningFor} after ${runningFor} s`,
  );
  if (before && checkpointed) n.info(`the ${before.counter - checkpointed.counter} s counted between the checkpoint and the kill are lost, as expected`);

  n.begin(`Live migration: RestoreRequest ${MIGRATION} moves ${POD} to the other node, checkpointing it first`);
  // Another node that can restore what this node's runtime writes.
  const here = capability.get(newNode);
  const target = stack.nodes.map((x) => x.name).find((x) => x !== newNode && capability.get(x)?.capable === true && capability.get(x)?.runtime === here?.runtime);
  if (!target) throw new DemoFailure(`no other node can restore a ${here?.runtime ?? '?'} checkpoint: nowhere to migrate to`);
  n.info(`target ${target}: ${here?.runtime ?? '?'} like ${newNode}, and it can restore (the other nodes cannot take this checkpoint)`);
  const asked = Date.now();
  await c.custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: NS,
    plural: PLURALS.RestoreRequest,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'RestoreRequest', metadata: { name: MIGRATION }, spec: { podReference: { name: POD }, targetNode: target, checkpointFirst: true } },
  });
  n.info(`created { podReference: ${POD}, targetNode: ${target}, checkpointFirst: true }`);
  let lastStep = '';
  const migrated = await waitFor<RestoreRequest>(signal, `RestoreRequest ${MIGRATION} to finish`, 120_000, async () => {
    const r = (await c.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: PLURALS.RestoreRequest, name: MIGRATION })) as RestoreRequest;
    const step = `${r.status?.phase ?? 'Pending'}${r.status?.message ? `: ${r.status.message}` : ''}`;
    if (step !== lastStep) {
      n.info(`RestoreRequest ${step}`);
      lastStep = step;
    }
    if (r.status?.phase === 'Failed') throw new DemoFailure(`RestoreRequest ${MIGRATION} failed: ${r.status.message ?? 'no message'}`);
    return r.status?.phase === 'Completed' ? { done: r } : { seen: step };
  });
  const moved = await waitFor<V1Pod>(signal, `${POD} on ${target}`, 60_000, async () => {
    const p = await getPod(c);
    return p && podRunning(p) && p.spec?.nodeName === target ? { done: p } : { seen: podSummary(p) };
  });
  const fresh = (await listCheckpoints(c)).find((x) => x.metadata.name === migrated.status?.checkpoint?.name);
  if (!fresh || Date.parse(fresh.spec.checkpointTimestamp ?? '') < Math.floor(asked / 1000) * 1000) {
    throw new DemoFailure(`the migration did not restore from a checkpoint taken after the request (${migrated.status?.checkpoint?.name ?? 'none'})`);
  }
  const migratedFrom = await describeCheckpoint(n, stack, fresh, 'Migration');
  const there = await waitFor(signal, `the state of ${POD} on ${target}`, 30_000, async () => ({ done: await readAppState(c) }));
  n.info(`${POD} (uid ${moved.metadata!.uid}) Running on ${target}: counter=${there.counter}, restored from ${there.restoredFrom ?? '(nothing)'}`);
  if (there.restoredFrom !== fresh.status?.runtimeImage) throw new DemoFailure(`${POD} on ${target} was not restored from the migration checkpoint`);
  if (migratedFrom && there.counter < migratedFrom.counter) throw new DemoFailure(`the counter went back: ${there.counter} < ${migratedFrom.counter}`);
  n.info(`moved from ${newNode} to ${target} with its memory: the count went on from ${migratedFrom?.counter ?? 'the checkpoint'}`);
}

// ---------- cleanup ----------

async function cleanup(run: Run, n: Narrator): Promise<void> {
  if (run.startedStack) {
    n.plain('cleanup: stopping the kcr stack (webhook, controller, agents, kubelets and their runtimes, registry, Redis; node network)');
    const { stopped } = await stopStack(run.flags.stateDir);
    n.plain(`cleanup: stopped ${stopped.length} processes`);
  }
  if (run.startedCluster) {
    n.plain('cleanup: stopping the local cluster');
    await stopCluster({ kcrDir: run.flags.stateDir });
  } else if (run.cluster) {
    // A cluster someone else started stays; only the demo's namespace goes.
    await clientsFor(run.cluster.kubeconfig).core.deleteNamespace({ name: NS }).catch(() => {});
    n.plain(`cleanup: namespace ${NS} deleted; the cluster you started stays up`);
  }
}

async function main(): Promise<void> {
  let flags: Flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
    process.exitCode = 2;
    return;
  }
  if (flags.help) {
    process.stdout.write(usage);
    return;
  }
  const n = new Narrator(TOTAL_STEPS);
  const abort = new AbortController();
  const run: Run = { flags, n, signal: abort.signal, startedCluster: false, startedStack: false };
  let cleaning: Promise<void> | undefined;
  const clean = () => (cleaning ??= cleanup(run, n).catch((err: unknown) => n.plain(`cleanup failed: ${message(err)} (run npm run cluster:down)`)));
  process.on('SIGINT', () => {
    if (cleaning) {
      n.plain('second Ctrl-C: exiting without waiting for cleanup (run npm run cluster:down)');
      process.exit(130);
    }
    n.plain('');
    n.plain('Ctrl-C: stopping and cleaning up everything the demo started…');
    abort.abort();
    void clean().then(() => process.exit(130));
  });

  n.plain('kcr demo: checkpoint a stateful pod, kill it, and watch its replacement continue where it left off.');
  n.plain(`State and logs in ${flags.stateDir}; Ctrl-C cleans up at any point${flags.keep ? '; --keep: everything stays up at the end' : ''}.`);
  let failed: unknown;
  try {
    await story(run);
  } catch (err) {
    failed = err;
  }
  if (abort.signal.aborted) return; // the SIGINT handler cleans up and exits
  n.plain('');
  if (failed === undefined) {
    n.plain(`Done in ${Math.round(n.elapsedMs() / 1000)} s: the replacement pod continued from its checkpoint, and the live migration kept its memory.`);
  } else {
    n.plain(`FAILED at step ${n.current}/${TOTAL_STEPS} after ${Math.round(n.elapsedMs() / 1000)} s: ${message(failed)}`);
    const problems = run.stack ? recentProblems(run.stack) : [];
    if (problems.length > 0) {
      n.plain("kcr's components last logged these warnings/errors:");
      for (const p of problems) n.plain(`  ${p.slice(0, 300)}`);
    }
    n.plain(`Logs of every component: ${join(flags.stateDir, 'logs')}/`);
    process.exitCode = 1;
  }
  if (flags.keep && run.cluster) {
    n.plain('--keep: everything keeps running. Try it:');
    n.plain(`  export KUBECONFIG=${run.cluster.kubeconfig} PATH=${run.cluster.binDir}:$PATH`);
    n.plain(`  kubectl -n ${NS} get pods,checkpoints,checkpointrequests`);
    n.plain('  npm run cluster:down     # stops the stack and the cluster');
    return;
  }
  await clean();
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
