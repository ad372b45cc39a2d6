#!/usr/bin/env node
// The chaos soak: `npm run soak -- --minutes N` (default 20). On the local cluster with real
// kubelets, 2 webhook replicas, 2 controllers and an agent per node, a StatefulSet of 3 and a
// Deployment of 3 on a one-minute schedule, it injects faults at random intervals and checks all
// along (soak-checks.ts) that nothing is lost, cloned or stuck. It ends with one line:
//   RESULT minutes=… faults=… checkpoints=… restores=… lost=0 duplicates=0 clones=0 stuck=0 missed_slots=0 missing_images=0 rss_growth_mib=…
// and exits 1 when any of lost, duplicates, clones, stuck, missed_slots or missing_images is not 0.
// Faults: SIGKILL of the leading controller, of an agent while it pushes, of a webhook replica;
// Redis restarted with its data and (once) without; the registry stopped for 30 s; pods deleted;
// a node cordoned and its pods deleted. It runs in its own state folder (.kcr-soak).
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { ANNOTATIONS, GROUP, PLURALS, VERSION, type Checkpoint, type CheckpointRequest } from '../../src/api/types.ts';
import { inspectImage } from '../support/checkpoint-image.ts';
import { clientsFor, type Clients } from '../cluster/cluster-clients.ts';
import { podTemplate } from '../cluster/e2e-world.ts';
import { KCR_NAMESPACE } from '../cluster/kcr-in-cluster.ts';
import { relaunchStackProcess, startStack, stackState, stopStack, type StackState } from '../cluster/kcr-stack.ts';
import { controlPlaneBinDir, ensureClusterUp, stopCluster } from '../cluster/local-cluster.ts';
import { REPO_ROOT } from '../cluster/pki.ts';
import { missedSlots, soakCounts, type FreshRecord, type RequestSample, type Sample } from './soak-checks.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '20' }, seed: { type: 'string' } } });
const minutes = Number(values.minutes);
if (!Number.isFinite(minutes) || minutes <= 0) throw new Error('--minutes must be a positive number');
let seed = Number(values.seed ?? Date.now() % 2_147_483_647);
const random = () => ((seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

const KCR_DIR = join(REPO_ROOT, '.kcr-soak');
const NS = 'kcr-soak';
const SCHEDULE = '* * * * *';
const log = (m: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${m}`);

type Fault = 'kill-leader' | 'kill-agent-mid-push' | 'kill-webhook' | 'restart-redis' | 'wipe-redis' | 'stop-registry' | 'delete-pods' | 'cordon-node';

async function main(): Promise<void> {
  const binDir = await controlPlaneBinDir(log);
  const up = await ensureClusterUp({ kcrDir: KCR_DIR, binDir, log });
  let stack: StackState | undefined;
  try {
    stack = (await startStack({
      cluster: up.state,
      kcrDir: KCR_DIR,
      webhookReplicas: 2,
      controllerReplicas: 2,
      netnsOffset: 90,
      log,
      controllerEnv: { KCR_CONTROLLER_RESYNC_MS: '2000', KCR_RETENTION_INTERVAL_MS: '10000', KCR_RESTORE_PULL_TIMEOUT_SECONDS: '45' },
    })).state;
    await soak(clientsFor(up.state.kubeconfig), stack);
  } finally {
    await stopStack(KCR_DIR).catch((err: unknown) => log(`stopping the stack: ${String(err)}`));
    if (!up.alreadyRunning) await stopCluster({ kcrDir: KCR_DIR }).catch(() => undefined);
    if (process.env.KCR_KEEP_SOAK_LOGS !== '1') rmSync(join(KCR_DIR, 'stack'), { recursive: true, force: true });
  }
}

async function soak(c: Clients, stack: StackState): Promise<void> {
  await c.core.createNamespace({ body: { metadata: { name: NS } } }).catch(() => undefined);
  await waitFor('the default ServiceAccount', async () => (await c.core.readNamespacedServiceAccount({ name: 'default', namespace: NS }).then(() => true, () => false)));
  const annotations = { [ANNOTATIONS.workloadSchedule]: SCHEDULE };
  await c.apps.createNamespacedStatefulSet({ namespace: NS, body: { metadata: { name: 'db', annotations }, spec: { serviceName: 'db', replicas: 3, selector: { matchLabels: { app: 'db' } }, template: podTemplate('db') } } });
  await c.apps.createNamespacedDeployment({ namespace: NS, body: { metadata: { name: 'api', annotations }, spec: { replicas: 3, selector: { matchLabels: { app: 'api' } }, template: podTemplate('api') } } });
  await waitFor('6 pods running', async () => (await c.core.listNamespacedPod({ namespace: NS })).items.filter((p) => p.status?.phase === 'Running').length === 6, 180_000);
  log('6 pods running; the schedule fires every minute');

  const startMs = Date.now();
  const endMs = startMs + minutes * 60_000;
  const samples: Sample[] = [];
  const rss = new Map<string, { pid: number; warm?: number; last?: number }>();
  let faults = 0;
  let wiped = false;
  let observing = true;

  const observe = async () => {
    while (observing) {
      try {
        samples.push(await sample(c));
        sampleRss(rss, startMs);
      } catch (err) {
        log(`observation failed (API server busy?): ${String(err)}`);
      }
      await sleep(2000);
    }
  };
  const observer = observe();

  // First faults once a checkpoint of each workload exists, so restores can be judged.
  const firstFireMs = Math.ceil(Date.now() / 60_000) * 60_000;
  await waitFor('a first checkpoint of each workload', async () => {
    const cps = await checkpoints(c);
    return cps.some((x) => x.spec.workload?.kind === 'StatefulSet') && cps.some((x) => x.spec.workload?.kind === 'Deployment');
  }, 180_000);

  // Every other fault deletes pods, so each disruption is followed by replacements to judge.
  const disruptions: Fault[] = ['kill-leader', 'kill-agent-mid-push', 'kill-webhook', 'restart-redis', 'stop-registry', 'cordon-node'];
  const faultsEndMs = endMs - Math.min(60_000, minutes * 15_000);
  while (Date.now() < faultsEndMs) {
    await sleep(Math.min(10_000 + random() * 15_000, Math.max(0, faultsEndMs - Date.now())));
    if (Date.now() >= faultsEndMs) break;
    const fault: Fault = faults % 2 === 1 ? 'delete-pods' : !wiped && faults >= 2 && random() < 0.3 ? 'wipe-redis' : pick(disruptions);
    if (fault === 'wipe-redis') wiped = true;
    faults++;
    log(`fault ${faults}: ${fault}`);
    try {
      await inject(c, stack, fault);
    } catch (err) {
      log(`fault ${fault} could not be injected fully: ${String(err)}`);
    }
  }
  log('faults over; letting the last minute settle');
  await sleep(Math.max(0, endMs - Date.now()) + 30_000);
  observing = false;
  await observer;

  const cps = await checkpoints(c);
  let missing = 0;
  for (const cp of cps.filter((x) => x.status?.phase === 'ImageBuilt' && x.status.runtimeImage && !x.metadata.deletionTimestamp)) {
    const r = await inspectImage(cp.status!.runtimeImage!, { authFile: stack.registry.authFile, insecure: true });
    if (r.outcome !== 'found') {
      missing++;
      log(`Checkpoint ${cp.metadata.name} names ${cp.status!.runtimeImage}, which the registry does not have (${r.outcome})`);
    }
  }
  const requests = await requestSamples(c);
  // Slots from the first fire the soak waited for to the last full minute before the settling ended.
  const missed = missedSlots(requests, firstFireMs, Date.now() - 60_000);
  const counts = soakCounts(samples, freshRecords(stack), requests, Date.now());
  const seenCheckpoints = new Set(samples.flatMap((s) => s.checkpoints.filter((x) => x.ready).map((x) => x.name))).size;
  const growths = [...rss.values()].filter((r) => r.warm !== undefined && r.last !== undefined).map((r) => (r.last! - r.warm!) / 1024);
  // The largest, which may be below 0 (a process that gave memory back); n/a when none lived through.
  const growth = growths.length > 0 ? Math.max(...growths).toFixed(1) : 'n/a';
  const result = `RESULT minutes=${minutes} faults=${faults} checkpoints=${seenCheckpoints} restores=${counts.restores} fresh_with_reason=${counts.freshWithReason} lost=${counts.lost} duplicates=${counts.duplicates} clones=${counts.clones} stuck=${counts.stuck} missed_slots=${missed} missing_images=${missing} rss_growth_mib=${growth}`;
  console.log(result);
  if (counts.lost + counts.duplicates + counts.clones + counts.stuck + missed + missing > 0) process.exitCode = 1;
}

async function inject(c: Clients, stack: StackState, fault: Fault): Promise<void> {
  const proc = (name: string) => stackState(KCR_DIR)?.processes.find((p) => p.name === name);
  const kill = (name: string, signal: NodeJS.Signals = 'SIGKILL') => {
    const p = proc(name);
    if (!p) throw new Error(`no process ${name}`);
    try {
      process.kill(p.pid, signal);
    } catch {
      // already gone
    }
    return p;
  };
  const gone = async (pid: number) => waitFor(`pid ${pid} to exit`, async () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }, 20_000);
  /** Stops a stack process, waits `downMs` with it gone (and runs `whileDown`), then starts it again as it was. */
  const outage = async (name: string, downMs: number, signal: NodeJS.Signals = 'SIGKILL', whileDown: () => void = () => {}) => {
    await gone(kill(name, signal).pid);
    whileDown();
    await sleep(downMs);
    relaunchStackProcess(KCR_DIR, name);
  };
  switch (fault) {
    case 'kill-leader': {
      const lease = await c.kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'kcr-controller', namespace: KCR_NAMESPACE });
      const holder = lease.spec?.holderIdentity ?? '';
      const i = /kcr-controller-local-(\d+)$/.exec(holder)?.[1];
      if (!i) throw new Error(`lease held by ${holder || 'nobody'}`);
      await outage(`controller-${i}`, 3000);
      return;
    }
    case 'kill-agent-mid-push': {
      const busy = await waitFor('a checkpoint in progress', async () => {
        const r = (await requestList(c)).find((x) => x.status?.phase === 'InProgress' && x.status.nodeName);
        return r?.status?.nodeName;
      }, 70_000, 200);
      await outage(`agent-${busy}`, 2000);
      return;
    }
    case 'kill-webhook': {
      await outage('webhook-2', 5000);
      return;
    }
    case 'restart-redis':
    case 'wipe-redis': {
      await outage('redis', 2000, fault === 'wipe-redis' ? 'SIGKILL' : 'SIGTERM', () => {
        if (fault === 'wipe-redis') for (const f of ['appendonlydir', 'dump.rdb']) rmSync(join(stack.redis.dataDir, f), { recursive: true, force: true });
      });
      return;
    }
    case 'stop-registry': {
      await outage('registry', 30_000);
      return;
    }
    case 'delete-pods': {
      const pods = (await c.core.listNamespacedPod({ namespace: NS })).items.filter((p) => !p.metadata?.deletionTimestamp);
      for (const app of ['db', 'api']) {
        const mine = pods.filter((p) => p.metadata?.labels?.app === app);
        if (mine.length > 0) await c.core.deleteNamespacedPod({ name: pick(mine).metadata!.name!, namespace: NS }).catch(() => undefined);
      }
      return;
    }
    case 'cordon-node': {
      const node = pick(stack.nodes).name;
      await c.core.patchNode({ name: node, body: [{ op: 'replace', path: '/spec/unschedulable', value: true }] });
      const pods = (await c.core.listNamespacedPod({ namespace: NS })).items.filter((p) => p.spec?.nodeName === node);
      for (const p of pods) await c.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: NS }).catch(() => undefined);
      await sleep(20_000);
      await c.core.patchNode({ name: node, body: [{ op: 'replace', path: '/spec/unschedulable', value: false }] });
      return;
    }
  }
}

async function checkpoints(c: Clients): Promise<Checkpoint[]> {
  return ((await c.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: PLURALS.Checkpoint })) as { items: Checkpoint[] }).items;
}

async function requestList(c: Clients): Promise<CheckpointRequest[]> {
  return ((await c.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: PLURALS.CheckpointRequest })) as { items: CheckpointRequest[] }).items;
}

async function requestSamples(c: Clients): Promise<RequestSample[]> {
  return (await requestList(c)).map((r) => ({
    name: r.metadata.name!,
    phase: r.status?.phase ?? '',
    createdMs: Date.parse(r.metadata.creationTimestamp ?? '') || Date.now(),
    timeoutSeconds: r.spec.timeoutSeconds ?? 300,
    slotMs: Date.parse(r.metadata.annotations?.['kcr.io/fire-time'] ?? '') || undefined,
    pod: r.spec.podReference.name,
  }));
}

async function sample(c: Clients): Promise<Sample> {
  const [pods, cps] = await Promise.all([c.core.listNamespacedPod({ namespace: NS }), checkpoints(c)]);
  return {
    atMs: Date.now(),
    pods: pods.items.map((p) => ({
      uid: p.metadata!.uid!,
      name: p.metadata!.name!,
      identity: p.metadata?.labels?.app === 'api' ? 'api' : p.metadata!.name!,
      createdMs: Date.parse(p.metadata?.creationTimestamp as unknown as string) || Date.now(),
      living: !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
      restoredFrom: Object.fromEntries(Object.entries(p.metadata?.annotations ?? {})
        .filter(([k]) => k.startsWith(ANNOTATIONS.restoredFromContainerPrefix))
        .map(([k, v]) => [k.slice(ANNOTATIONS.restoredFromContainerPrefix.length), v])),
    })),
    checkpoints: cps.map((x) => ({
      name: x.metadata.name!,
      identity: x.spec.identity ?? '',
      container: x.spec.containerName,
      podUID: x.spec.podUID,
      ready: x.status?.phase === 'ImageBuilt' && !x.status.bad && !x.metadata.deletionTimestamp,
      createdMs: Date.parse(x.metadata.creationTimestamp ?? '') || 0,
    })),
  };
}

/** The webhook replicas' "pod starts fresh" lines for the soak's namespace: each fresh start's recorded reason. */
function freshRecords(stack: StackState): FreshRecord[] {
  const out: FreshRecord[] = [];
  for (const p of stack.processes.filter((x) => x.name === 'webhook' || x.name.startsWith('webhook-'))) {
    let text: string;
    try {
      text = readFileSync(p.logFile, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line.includes('pod starts fresh')) continue;
      try {
        const j = JSON.parse(line) as { namespace?: string; identity?: string; reason?: string; time?: string };
        if (j.namespace === NS && j.identity && j.reason && j.time) out.push({ identity: j.identity, reason: j.reason, atMs: Date.parse(j.time) });
      } catch {
        // not a log line
      }
    }
  }
  return out;
}

/** VmRSS of the webhook and controller processes that lived through the soak (a restarted one starts over). */
function sampleRss(rss: Map<string, { pid: number; warm?: number; last?: number }>, startMs: number): void {
  for (const p of stackState(KCR_DIR)?.processes ?? []) {
    if (!/^(webhook|controller)/.test(p.name) || p.name === 'webhook-balancer') continue;
    let kib: number | undefined;
    try {
      kib = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1]);
    } catch {
      kib = undefined;
    }
    const r = rss.get(p.name);
    if (!r || r.pid !== p.pid) {
      rss.set(p.name, { pid: p.pid });
      continue;
    }
    if (kib === undefined || !Number.isFinite(kib)) continue;
    // Warm: a minute in, once imports, caches and connections are made.
    if (r.warm === undefined && Date.now() - startMs > 60_000) r.warm = kib;
    r.last = kib;
  }
}

async function waitFor<T>(what: string, check: () => Promise<T | false | undefined>, timeoutMs = 60_000, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
