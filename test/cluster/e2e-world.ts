// What the end-to-end files do and read in their namespace on the shared kcr stack: sample
// workloads, CheckpointRequests, Checkpoints, the app's memory (its log, as `kubectl logs` shows
// it) and the state stored inside a checkpoint image (pulled from the registry with skopeo).
import type { V1Pod } from '@kubernetes/client-node';
import { expect } from 'vitest';
import { ANNOTATIONS, API_VERSION, GROUP, PLURALS, VERSION, type Checkpoint, type CheckpointRequest, type RestoreRequest } from '../../src/api/types.ts';
import { apiCode, eventually, type Clients } from './cluster-clients.ts';
import type { StackState } from './kcr-stack.ts';
import { readCheckpointArchive, type SavedAppState } from '../support/checkpoint-archive.ts';
import { inspectImage, pullCheckpointImage } from '../support/checkpoint-image.ts';
import { appState, type AppState } from './nodes/app-log.ts';
import { nodeControl, type NodeControl } from './nodes/node-control.ts';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { CAPABILITY_LABELS } from '../../src/rules/restore-capability.ts';

export const IMAGE = 'busybox:1.37';

export const ready = (cp: Checkpoint) => cp.status?.phase === 'ImageBuilt' && typeof cp.status.runtimeImage === 'string';

export const newestFirst = (a: Checkpoint, b: Checkpoint) => (b.spec.checkpointTimestamp ?? '').localeCompare(a.spec.checkpointTimestamp ?? '');

export function runningReady(p: V1Pod | undefined, notUid?: string): p is V1Pod {
  return (
    p !== undefined &&
    p.metadata?.uid !== notUid &&
    p.metadata?.deletionTimestamp === undefined &&
    p.status?.phase === 'Running' &&
    (p.status.containerStatuses ?? []).every((s) => s.ready === true)
  );
}

export function restoredFromOf(p: V1Pod, container = 'app'): string | undefined {
  return p.metadata?.annotations?.[`${ANNOTATIONS.restoredFromContainerPrefix}${container}`];
}

export function podTemplate(app: string, annotations: Record<string, string> = {}, pullSecret?: string) {
  return {
    metadata: { labels: { app }, annotations },
    spec: {
      terminationGracePeriodSeconds: 2,
      ...(pullSecret ? { imagePullSecrets: [{ name: pullSecret }] } : {}),
      containers: [{ name: 'app', image: IMAGE, command: ['sh', '-c', 'i=0; while true; do i=$((i+1)); sleep 1; done'] }],
    },
  };
}

export class E2eWorld {
  readonly admin: Clients;
  readonly stack: StackState;
  readonly ns: string;

  constructor(admin: Clients, stack: StackState, ns: string) {
    this.admin = admin;
    this.stack = stack;
    this.ns = ns;
  }

  custom(plural: string) {
    return { group: GROUP, version: VERSION, namespace: this.ns, plural };
  }

  async checkpoints(filter: (cp: Checkpoint) => boolean = () => true): Promise<Checkpoint[]> {
    const list = (await this.admin.custom.listNamespacedCustomObject(this.custom(PLURALS.Checkpoint))) as { items: Checkpoint[] };
    return list.items.filter(filter);
  }

  async checkpoint(name: string): Promise<Checkpoint | undefined> {
    return (await this.checkpoints((c) => c.metadata.name === name))[0];
  }

  async pod(name: string): Promise<V1Pod | undefined> {
    try {
      return await this.admin.core.readNamespacedPod({ name, namespace: this.ns });
    } catch (err) {
      if (apiCode(err) === 404) return undefined;
      throw err;
    }
  }

  async runningPod(name: string, notUid?: string, timeoutMs = 120_000): Promise<V1Pod> {
    return eventually(`pod ${name} Running${notUid ? ' (a new one)' : ''}`, async () => {
      const p = await this.pod(name);
      return runningReady(p, notUid) ? p : undefined;
    }, timeoutMs, 250);
  }

  /** The pods of an app that run and are not being deleted. */
  async runningPodsOf(app: string): Promise<V1Pod[]> {
    const list = await this.admin.core.listNamespacedPod({ namespace: this.ns, labelSelector: `app=${app}` });
    return list.items.filter((p) => runningReady(p));
  }

  /** The app's memory as its current run logs it (`kubectl logs`). */
  async appState(p: V1Pod, container = 'app'): Promise<AppState> {
    return eventually(`output of ${p.metadata!.name!}/${container}`, async () => appState(this.admin.core, this.ns, p.metadata!.name!, container).catch(() => undefined), 30_000, 250);
  }

  /** Cordons (false) or uncordons (true) a node of the stack, as `kubectl cordon` does. */
  async schedulable(node: string, on: boolean): Promise<void> {
    await this.admin.core.patchNode({ name: node, body: { spec: { unschedulable: !on } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }

  /** What the node's agent published: restore.kcr.io/capable. */
  async capableLabel(node: string): Promise<string | undefined> {
    return (await this.admin.core.readNode({ name: node })).metadata?.labels?.[CAPABILITY_LABELS.capable];
  }

  /** The fault-injection endpoint of the runtime on `node` (the pod's node when given a pod). */
  nodeControl(node: string | V1Pod): NodeControl {
    const name = typeof node === 'string' ? node : node.spec!.nodeName!;
    const n = this.stack.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no stack node ${name}`);
    return nodeControl(n.controlUrl);
  }

  /** pullSecret: in the pod template from the start (a pod's imagePullSecrets cannot change later). */
  async createStatefulSet(name: string, opts: { cron?: string; podAnnotations?: Record<string, string>; pullSecret?: string } = {}): Promise<void> {
    await this.admin.apps.createNamespacedStatefulSet({
      namespace: this.ns,
      body: {
        metadata: { name, ...(opts.cron ? { annotations: { [ANNOTATIONS.workloadSchedule]: opts.cron } } : {}) },
        spec: { serviceName: name, replicas: 1, selector: { matchLabels: { app: name } }, template: podTemplate(name, opts.podAnnotations, opts.pullSecret) },
      },
    });
  }

  async createDeployment(name: string, cron: string): Promise<void> {
    await this.admin.apps.createNamespacedDeployment({
      namespace: this.ns,
      body: {
        metadata: { name, annotations: { [ANNOTATIONS.workloadSchedule]: cron } },
        spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: podTemplate(name) },
      },
    });
  }

  async createRequest(name: string, podName: string, scheduleRef?: string): Promise<CheckpointRequest> {
    return (await this.admin.custom.createNamespacedCustomObject({
      ...this.custom(PLURALS.CheckpointRequest),
      body: {
        apiVersion: API_VERSION,
        kind: 'CheckpointRequest',
        metadata: { name },
        spec: { podReference: { name: podName }, containerName: 'app', timeoutSeconds: 60, ...(scheduleRef ? { checkpointScheduleRef: { name: scheduleRef } } : {}) },
      },
    })) as CheckpointRequest;
  }

  async completed(name: string): Promise<CheckpointRequest> {
    return eventually(`CheckpointRequest ${name} to finish`, async () => {
      const r = (await this.admin.custom.getNamespacedCustomObject({ ...this.custom(PLURALS.CheckpointRequest), name })) as CheckpointRequest;
      if (r.status?.phase === 'Failed') throw new Error(`CheckpointRequest ${name} failed: ${r.status.message ?? ''}`);
      return r.status?.phase === 'Completed' ? r : undefined;
    }, 120_000, 250);
  }

  /** A user's checkpoint of the pod, now: request, wait, and the ready Checkpoint it made. */
  async checkpointNow(requestName: string, podName: string, scheduleRef?: string): Promise<Checkpoint> {
    await this.createRequest(requestName, podName, scheduleRef);
    const done = await this.completed(requestName);
    const name = done.status?.checkpoint?.name;
    if (!name) throw new Error(`CheckpointRequest ${requestName} completed without naming its Checkpoint`);
    const cp = await eventually(`Checkpoint ${name} ready`, async () => {
      const c = await this.checkpoint(name);
      return c && ready(c) ? c : undefined;
    });
    // Archives have one-second names: the next checkpoint is taken in a later second.
    await new Promise((r) => setTimeout(r, 1100));
    return cp;
  }

  async createRestore(name: string, spec: RestoreRequest['spec']): Promise<RestoreRequest> {
    return (await this.admin.custom.createNamespacedCustomObject({
      ...this.custom(PLURALS.RestoreRequest),
      body: { apiVersion: API_VERSION, kind: 'RestoreRequest', metadata: { name }, spec },
    })) as RestoreRequest;
  }

  async getRestore(name: string): Promise<RestoreRequest> {
    return (await this.admin.custom.getNamespacedCustomObject({ ...this.custom(PLURALS.RestoreRequest), name })) as RestoreRequest;
  }

  /** Waits for a RestoreRequest to finish; returns it and every phase it was seen in. */
  async restoreFinished(name: string, timeoutMs = 180_000): Promise<{ request: RestoreRequest; phases: string[]; messages: string[] }> {
    const phases: string[] = [];
    const messages: string[] = [];
    const request = await eventually(`RestoreRequest ${name} to finish`, async () => {
      const r = await this.getRestore(name);
      const phase = r.status?.phase ?? '(none)';
      if (phases.at(-1) !== phase) phases.push(phase);
      const m = r.status?.message;
      if (m !== undefined && messages.at(-1) !== m) messages.push(m);
      return phase === 'Completed' || phase === 'Failed' ? r : undefined;
    }, timeoutMs, 100);
    return { request, phases, messages };
  }

  /** The app state inside a checkpoint image, pulled from the registry with skopeo. */
  async savedState(image: string): Promise<SavedAppState> {
    const pulled = await pullCheckpointImage(image, { ...(this.stack.registry.authFile ? { authFile: this.stack.registry.authFile } : {}), insecure: true });
    return (await readCheckpointArchive(pulled.archive)).state;
  }

  /** A restored run starts at the checkpoint's counter (a fresh one at 0) and counts on from it. */
  async expectContinuedFrom(p: V1Pod, image: string): Promise<SavedAppState> {
    const saved = await this.savedState(image);
    const now = await this.appState(p);
    expect(now.restoredFrom).toBe(image);
    expect(now.restoredAt).toBe(saved.counter);
    expect(now.counter).toBeGreaterThanOrEqual(saved.counter);
    return saved;
  }

  /** The registry holds the image (read with skopeo and the harness's credential, kcr's writer in token mode). */
  async registryHas(image: string): Promise<boolean> {
    const r = await inspectImage(image, { ...(this.stack.registry.authFile ? { authFile: this.stack.registry.authFile } : {}), insecure: true });
    if (r.outcome === 'refused') throw new Error(`registry refused the harness reading ${image}: ${r.message}`);
    return r.outcome === 'found';
  }

  /** Events about an object of this namespace, as `kubectl describe` shows them. */
  async eventsFor(kind: string, name: string): Promise<Array<{ type: string; reason: string; message: string }>> {
    const list = await this.admin.core.listNamespacedEvent({ namespace: this.ns, fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` });
    return list.items.map((e) => ({ type: e.type ?? '', reason: e.reason ?? '', message: e.message ?? '' }));
  }
}
