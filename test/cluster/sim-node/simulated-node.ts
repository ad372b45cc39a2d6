// One simulated Kubernetes node: registers its Node, keeps its Lease fresh, runs the pods the
// scheduler binds to it (a counter app per container, restored from checkpoint images) and
// serves the kubelet checkpoint API over TLS. Everything it talks to is real (API server,
// registry); only the container runtime is simulated. All dependencies are passed in.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  ListWatch,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Logger } from '../../../src/log.ts';
import { DEFAULT_MEMORY_BYTES, restoreFailureMatches, SIM_ANNOTATIONS } from './annotations.ts';
import { freshRun, restoredRun, stateAt, type AppRun, type AppState } from './app-state.ts';
import { readCheckpointArchive, writeCheckpointArchive } from './archive.ts';
import { checkpointArchiveName } from './archive-name.ts';
import { parseImageRef } from './image-ref.ts';
import { allowListAuthorizer, subjectAccessReviewAuthorizer, tokenReviewAuthenticator, type KubeletAuthorizer } from './kubelet-auth.ts';
import { startKubeletServer, type CheckpointOutcome, type KubeletServer, type StateOutcome } from './kubelet-server.ts';
import { buildPodStatus, isRunning, type ContainerRecord } from './pod-status.ts';
import { credentialsFor } from './pull-credentials.ts';
import { ImagePullError, type RegistryClient, type RegistryCredentials } from './registry-client.ts';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface NodeTiming {
  /** Lease renewal (the kubelet: every 10 s, lease duration 40 s). */
  leaseRenewMs: number;
  /** Full node status heartbeat. */
  nodeStatusMs: number;
  /** How often the state annotations of running containers are refreshed (0: never). */
  stateAnnotationMs: number;
  /** Wait after ErrImagePull before the next pull (ImagePullBackOff). */
  imagePullBackoffMs: number;
  /** Wait after a crash or a failed restore before the container is started again. */
  restartBackoffMs: number;
  /** A "loop" crash happens this long after each start. */
  crashLoopAfterMs: number;
}

export const DEFAULT_TIMING: NodeTiming = {
  leaseRenewMs: 10_000,
  nodeStatusMs: 60_000,
  stateAnnotationMs: 2_000,
  imagePullBackoffMs: 5_000,
  restartBackoffMs: 3_000,
  crashLoopAfterMs: 1_500,
};

export interface SimulatedNodeOptions {
  name: string;
  /**
   * The node's InternalIP: what the API server dials and the serving certificate names. The
   * node proxy refuses loopback addresses, so for proxied calls this is a global-unicast
   * address (a private network namespace's, or the host's).
   */
  ip: string;
  /** The kubelet port advertised in daemonEndpoints; default: the port listened on. */
  port?: number;
  /** Where the kubelet server really listens (default: `ip`); e.g. 127.0.0.1 behind a forwarder. */
  listenHost?: string;
  /** Listen port; 0 (default) picks a free one. */
  listenPort?: number;
  /** The node's identity (system:node:<name>, group system:nodes). */
  kubeConfig: KubeConfig;
  /** Kubelet serving certificate for `ip`, and the CA that client certificates are verified against. */
  tls: { cert: string; key: string; clientCa: string };
  /** Where archives go (the kubelet's /var/lib/kubelet/checkpoints). */
  checkpointDir: string;
  registry: RegistryClient;
  clock?: Clock;
  logger: Logger;
  /**
   * 'webhook' (default): SubjectAccessReview and TokenReview against the API server, as a
   * kubelet with --authorization-mode=Webhook. Or an allow-list of user names (no API calls).
   */
  authorization?: 'webhook' | { allowUsers: string[] };
  /** Third octet of this node's pod IPs (10.244.<n>.x). */
  podCidrIndex?: number;
  capacity?: { cpu: string; memory: string; pods: string };
  labels?: Record<string, string>;
  timing?: Partial<NodeTiming>;
  defaultMemoryBytes?: number;
}

interface SimContainer {
  record: ContainerRecord;
  /** The image in the pod spec the container was last started from. */
  specImage: string;
  run?: AppRun;
  startedAt?: Date;
  /** Bumped to cancel a start, pull or restart in flight. */
  generation: number;
  timer?: NodeJS.Timeout;
  crashTimer?: NodeJS.Timeout;
  lastCrashToken?: string;
  crashPending: boolean;
  /** The original image of a restored container (config.dump's rootfsImageName). */
  rootfsImage?: string;
}

interface SimPod {
  uid: string;
  namespace: string;
  name: string;
  pod: V1Pod;
  podIP: string;
  startTime: string;
  containers: Map<string, SimContainer>;
  initContainers: ContainerRecord[];
  deleting: boolean;
  gone: boolean;
  dirty: boolean;
  flushing: boolean;
  flushTimer?: NodeJS.Timeout;
}

/** Failure injection a test sets directly (the node annotations do the same across processes). */
interface Failures {
  checkpointNext: number;
  checkpointAll: boolean;
  restoreAll: boolean;
  restoreNext: number;
  /** Restores of images whose reference or imageID contains one of these fail. */
  restoreMatching: string[];
}

const FIELD_MANAGER = 'kcr-sim-kubelet';

function errCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function microTime(d: Date): string {
  return d.toISOString().replace(/Z$/, '000Z');
}

export class SimulatedNode {
  readonly name: string;
  readonly ip: string;
  readonly checkpointDir: string;
  private readonly opts: SimulatedNodeOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly timing: NodeTiming;
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private readonly pods = new Map<string, SimPod>();
  private readonly failures: Failures = { checkpointNext: 0, checkpointAll: false, restoreAll: false, restoreNext: 0, restoreMatching: [] };
  private server?: KubeletServer;
  private informer?: ListWatch<V1Pod>;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private nextPodHost = 2;
  private readonly mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

  constructor(opts: SimulatedNodeOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.ip = opts.ip;
    this.checkpointDir = opts.checkpointDir;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ node: opts.name });
    this.timing = { ...DEFAULT_TIMING, ...opts.timing };
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.coordination = opts.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  /** The advertised kubelet port (daemonEndpoints.kubeletEndpoint.Port). */
  get port(): number {
    return this.opts.port ?? this.listenPort;
  }

  /** The port the kubelet server listens on (after start). */
  get listenPort(): number {
    if (!this.server) throw new Error(`node ${this.name} is not started`);
    return this.server.port;
  }

  /** Where the kubelet server listens: host:port. */
  get listenAddress(): string {
    return `${this.opts.listenHost ?? this.ip}:${this.listenPort}`;
  }

  /** https://<ip>:<port>, the kubelet endpoint as the API server dials it. */
  get kubeletUrl(): string {
    return `https://${this.ip}:${this.port}`;
  }

  async start(): Promise<void> {
    await mkdir(this.checkpointDir, { recursive: true, mode: 0o700 });
    await chmod(this.checkpointDir, 0o700);
    const authorizer: KubeletAuthorizer =
      this.opts.authorization === undefined || this.opts.authorization === 'webhook'
        ? subjectAccessReviewAuthorizer(this.opts.kubeConfig.makeApiClient(AuthorizationV1Api))
        : allowListAuthorizer(this.opts.authorization.allowUsers);
    const tokenAuthenticator =
      this.opts.authorization === undefined || this.opts.authorization === 'webhook'
        ? tokenReviewAuthenticator(this.opts.kubeConfig.makeApiClient(AuthenticationV1Api))
        : undefined;
    this.server = await startKubeletServer({
      nodeName: this.name,
      host: this.opts.listenHost ?? this.ip,
      port: this.opts.listenPort ?? 0,
      tls: this.opts.tls,
      authorizer,
      ...(tokenAuthenticator ? { tokenAuthenticator } : {}),
      logger: this.log,
      handlers: {
        find: (ns, pod, c) => this.find(ns, pod, c),
        checkpoint: (ns, pod, c, timeout) => this.checkpoint(ns, pod, c, timeout),
        state: (ns, pod, c) => this.state(ns, pod, c),
        pods: () => ({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [...this.pods.values()].map((p) => p.pod) }),
      },
    });
    await this.register();
    await this.renewLease();
    this.every(this.timing.leaseRenewMs, () => this.renewLease());
    this.every(this.timing.nodeStatusMs, () => this.patchNodeStatus());
    if (this.timing.stateAnnotationMs > 0) this.every(this.timing.stateAnnotationMs, () => this.refreshStateAnnotations());
    await this.watchPods();
    this.log.info({ ip: this.ip, port: this.port, listen: this.listenAddress }, 'simulated node ready');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.informer?.stop();
    for (const p of this.pods.values()) this.cancelPod(p);
    await this.server?.close();
  }

  // ---- failure injection --------------------------------------------------------------------

  /** The next `count` checkpoints fail with 500. */
  failNextCheckpoints(count = 1): void {
    this.failures.checkpointNext = count;
  }

  /** Every checkpoint fails with 500 until set back to false. */
  failAllCheckpoints(on = true): void {
    this.failures.checkpointAll = on;
  }

  /** Every restore (container from a checkpoint image) fails until set back to false. */
  failRestores(on = true): void {
    this.failures.restoreAll = on;
  }

  /** The next `count` restore attempts fail (a retry after that succeeds). */
  failNextRestores(count = 1): void {
    this.failures.restoreNext = count;
  }

  /** Restores of images whose reference or imageID contains one of `patterns` (tag, digest) fail; [] clears. */
  failRestoresOf(patterns: string[]): void {
    this.failures.restoreMatching = [...patterns];
  }

  /** Makes a running container exit with code 1 now (the kubelet restarts it after the backoff). */
  crashContainer(namespace: string, pod: string, container: string): boolean {
    const p = this.podByName(namespace, pod);
    const c = p?.containers.get(container);
    if (!p || !c || !isRunning(c.record.state)) return false;
    this.crash(p, c, 'injected crash');
    return true;
  }

  /** The app state of a running container, as GET /state answers. */
  state(namespace: string, pod: string, container: string): StateOutcome {
    const p = this.podByName(namespace, pod);
    if (!p) return { kind: 'no-pod' };
    const c = p.containers.get(container);
    if (!c) return { kind: 'no-container' };
    if (!c.run || !isRunning(c.record.state)) return { kind: 'not-running', reason: JSON.stringify(c.record.state) };
    return { kind: 'ok', state: stateAt(c.run, this.clock.now().getTime()) };
  }

  // ---- node registration and heartbeat ------------------------------------------------------

  private every(ms: number, fn: () => Promise<void>): void {
    const t = setInterval(() => {
      fn().catch((err: unknown) => this.log.warn({ err }, 'periodic node task failed'));
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  private nodeLabels(): Record<string, string> {
    return {
      'kubernetes.io/arch': 'amd64',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/hostname': this.name,
      'beta.kubernetes.io/arch': 'amd64',
      'beta.kubernetes.io/os': 'linux',
      ...this.opts.labels,
    };
  }

  private nodeStatus(): Record<string, unknown> {
    const now = rfc3339(this.clock.now());
    const cap = this.opts.capacity ?? { cpu: '8', memory: '16Gi', pods: '110' };
    const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: this.startedAt });
    return {
      capacity: { ...cap, 'ephemeral-storage': '100Gi' },
      allocatable: { ...cap, 'ephemeral-storage': '100Gi' },
      conditions: [
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status (simulated node)'),
      ],
      addresses: [
        { type: 'InternalIP', address: this.ip },
        { type: 'Hostname', address: this.name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: this.port } },
      nodeInfo: {
        machineID: this.machineId,
        systemUUID: this.machineId,
        bootID: this.bootId,
        kernelVersion: '6.8.0-kcr-sim',
        osImage: 'kcr simulated node',
        containerRuntimeVersion: 'cri-o://1.34.0',
        kubeletVersion: 'v1.37.2',
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    };
  }

  private readonly machineId = randomBytes(16).toString('hex');
  private readonly bootId = randomBytes(16).toString('hex');
  private readonly startedAt = rfc3339(new Date());

  private async register(): Promise<void> {
    try {
      await this.core.createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name: this.name, labels: this.nodeLabels() }, spec: {} } });
      this.log.info('node registered');
    } catch (err) {
      if (errCode(err) !== 409) throw err;
      await this.core.patchNode({ name: this.name, body: { metadata: { labels: this.nodeLabels() } }, fieldManager: FIELD_MANAGER }, this.mergePatch);
      this.log.info('node already registered; labels refreshed');
    }
    await this.patchNodeStatus();
  }

  private async patchNodeStatus(): Promise<void> {
    await this.core.patchNodeStatus({ name: this.name, body: { status: this.nodeStatus() }, fieldManager: FIELD_MANAGER }, this.mergePatch);
  }

  private async renewLease(): Promise<void> {
    const spec = { holderIdentity: this.name, leaseDurationSeconds: 40, renewTime: microTime(this.clock.now()) };
    try {
      await this.coordination.patchNamespacedLease({ name: this.name, namespace: 'kube-node-lease', body: { spec }, fieldManager: FIELD_MANAGER }, this.mergePatch);
    } catch (err) {
      if (errCode(err) !== 404) throw err;
      const node = await this.core.readNode({ name: this.name });
      // Created through a merge-patch-free path: the generated client would re-serialise
      // renewTime as a Date; the API server wants MicroTime, so the create sends a plain body.
      await this.coordination.createNamespacedLease({
        namespace: 'kube-node-lease',
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: {
            name: this.name,
            namespace: 'kube-node-lease',
            ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.name, uid: node.metadata!.uid! }],
          },
          spec: { holderIdentity: this.name, leaseDurationSeconds: 40 },
        },
      });
      await this.coordination.patchNamespacedLease({ name: this.name, namespace: 'kube-node-lease', body: { spec }, fieldManager: FIELD_MANAGER }, this.mergePatch);
    }
  }

  /** Node annotations set by tests in other processes; read fresh for each decision. */
  private async nodeAnnotations(): Promise<Record<string, string>> {
    try {
      const node = await this.core.readNode({ name: this.name });
      return node.metadata?.annotations ?? {};
    } catch (err) {
      this.log.warn({ err }, 'cannot read own node for failure injection');
      return {};
    }
  }

  // ---- pods -----------------------------------------------------------------------------------

  private async watchPods(): Promise<void> {
    const fieldSelector = `spec.nodeName=${this.name}`;
    const informer = new ListWatch<V1Pod>(
      '/api/v1/pods',
      new Watch(this.opts.kubeConfig),
      () => this.core.listPodForAllNamespaces({ fieldSelector }),
      false,
      undefined,
      fieldSelector,
    );
    informer.on('add', (p) => this.onPod(p));
    informer.on('update', (p) => this.onPod(p));
    informer.on('delete', (p) => this.onPodGone(p));
    informer.on('error', (err) => {
      if (this.stopped) return;
      this.log.warn({ err }, 'pod watch failed; restarting');
      setTimeout(() => {
        if (!this.stopped) informer.start().catch((e: unknown) => this.log.warn({ err: e }, 'pod watch restart failed'));
      }, 1000).unref();
    });
    this.informer = informer;
    await informer.start();
  }

  private podByName(namespace: string, name: string): SimPod | undefined {
    for (const p of this.pods.values()) if (p.namespace === namespace && p.name === name && !p.gone) return p;
    return undefined;
  }

  private find(namespace: string, pod: string, container: string): 'ok' | 'no-pod' | 'no-container' {
    const p = this.podByName(namespace, pod);
    if (!p) return 'no-pod';
    const spec = p.pod.spec;
    const names = [...(spec?.containers ?? []), ...(spec?.initContainers ?? []), ...(spec?.ephemeralContainers ?? [])].map((c) => c.name);
    return names.includes(container) ? 'ok' : 'no-container';
  }

  private newPodIP(): string {
    const n = this.nextPodHost++;
    return `10.244.${this.opts.podCidrIndex ?? 0}.${(n % 250) + 2}`;
  }

  private onPod(pod: V1Pod): void {
    if (this.stopped) return;
    const uid = pod.metadata?.uid;
    if (!uid || pod.spec?.nodeName !== this.name) return;
    let p = this.pods.get(uid);
    if (!p) {
      p = {
        uid,
        namespace: pod.metadata!.namespace!,
        name: pod.metadata!.name!,
        pod,
        podIP: this.newPodIP(),
        startTime: rfc3339(this.clock.now()),
        containers: new Map(),
        initContainers: (pod.spec.initContainers ?? []).map((c) => ({
          name: c.name,
          image: c.image ?? '',
          imageID: '',
          state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: rfc3339(this.clock.now()), finishedAt: rfc3339(this.clock.now()) } },
          restartCount: 0,
          ready: true,
        })),
        deleting: false,
        gone: false,
        dirty: false,
        flushing: false,
      };
      this.pods.set(uid, p);
      this.log.info({ namespace: p.namespace, pod: p.name, uid }, 'pod bound to this node');
    }
    p.pod = pod;
    if (pod.metadata?.deletionTimestamp) {
      this.terminate(p);
      return;
    }
    if (p.deleting) return;
    for (const spec of pod.spec.containers) {
      const image = spec.image ?? '';
      let c = p.containers.get(spec.name);
      if (!c) {
        c = {
          record: { name: spec.name, image, imageID: '', state: { waiting: { reason: 'ContainerCreating' } }, restartCount: 0, ready: false },
          specImage: image,
          generation: 0,
          crashPending: false,
        };
        p.containers.set(spec.name, c);
        this.syncCrashToken(p, c);
        void this.startContainer(p, c);
        continue;
      }
      if (c.specImage !== image) {
        // The kubelet restarts a container whose spec changed; kcr's in-place restore relies on it.
        this.log.info({ namespace: p.namespace, pod: p.name, container: spec.name, from: c.specImage, to: image }, 'container image changed; restarting');
        this.stopContainer(c, { exitCode: 0, reason: 'Completed', message: 'container definition changed, will be restarted' });
        c.specImage = image;
        c.record.image = image;
        c.record.restartCount += 1;
        void this.startContainer(p, c);
      }
      this.syncCrashToken(p, c);
    }
    this.markDirty(p);
  }

  private onPodGone(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    const p = uid ? this.pods.get(uid) : undefined;
    if (!p) return;
    p.gone = true;
    this.cancelPod(p);
    this.pods.delete(p.uid);
    this.log.info({ namespace: p.namespace, pod: p.name, uid: p.uid }, 'pod removed');
  }

  private cancelPod(p: SimPod): void {
    clearTimeout(p.flushTimer);
    for (const c of p.containers.values()) {
      c.generation++;
      clearTimeout(c.timer);
      clearTimeout(c.crashTimer);
    }
  }

  /** A deletionTimestamp: stop the containers, then delete the pod for good (grace 0), as the kubelet does. */
  private terminate(p: SimPod): void {
    if (p.deleting) return;
    p.deleting = true;
    for (const c of p.containers.values()) this.stopContainer(c, { exitCode: 0, reason: 'Completed' });
    this.cancelPod(p);
    void (async () => {
      try {
        await this.flush(p);
        await this.core.deleteNamespacedPod({
          name: p.name,
          namespace: p.namespace,
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0, preconditions: { uid: p.uid } },
        });
        this.log.info({ namespace: p.namespace, pod: p.name, uid: p.uid }, 'pod containers stopped; pod deleted');
      } catch (err) {
        const code = errCode(err);
        if (code !== 404 && code !== 409) this.log.warn({ err, namespace: p.namespace, pod: p.name }, 'deleting a terminated pod failed');
      }
    })();
  }

  private memoryBytes(p: SimPod, container: string): number {
    const a = p.pod.metadata?.annotations ?? {};
    const raw = a[`${SIM_ANNOTATIONS.memoryBytesPrefix}${container}`] ?? a[SIM_ANNOTATIONS.memoryBytes];
    const n = raw === undefined ? NaN : Number(raw);
    return Number.isSafeInteger(n) && n > 0 ? n : (this.opts.defaultMemoryBytes ?? DEFAULT_MEMORY_BYTES);
  }

  private async pullCredentials(p: SimPod, image: string): Promise<RegistryCredentials | undefined> {
    const secrets = p.pod.spec?.imagePullSecrets ?? [];
    if (secrets.length === 0) return undefined;
    let registry: string;
    try {
      registry = parseImageRef(image).registry;
    } catch {
      return undefined;
    }
    for (const s of secrets) {
      if (!s.name) continue;
      try {
        const secret = await this.core.readNamespacedSecret({ name: s.name, namespace: p.namespace });
        const data = secret.data?.['.dockerconfigjson'];
        if (!data) continue;
        const creds = credentialsFor(Buffer.from(data, 'base64').toString('utf8'), registry);
        if (creds) return creds;
      } catch (err) {
        this.log.warn({ err, namespace: p.namespace, pod: p.name, secret: s.name }, 'cannot read image pull secret');
      }
    }
    return undefined;
  }

  private async restoreFails(image: string, imageID: string): Promise<boolean> {
    if (this.failures.restoreNext > 0) {
      this.failures.restoreNext--;
      return true;
    }
    if (this.failures.restoreAll || restoreFailureMatches(this.failures.restoreMatching.join(','), image, imageID)) return true;
    return restoreFailureMatches((await this.nodeAnnotations())[SIM_ANNOTATIONS.failRestore], image, imageID);
  }

  /** Pull, then restore (checkpoint image) or start fresh. Cancelled by a newer generation. */
  private async startContainer(p: SimPod, c: SimContainer): Promise<void> {
    const gen = ++c.generation;
    clearTimeout(c.timer);
    const image = c.specImage;
    const ids = { namespace: p.namespace, pod: p.name, container: c.record.name, image };
    const live = () => gen === c.generation && !p.deleting && !p.gone && !this.stopped;
    c.run = undefined;
    c.record.ready = false;
    // A retry after a failed restore or pull keeps showing that failure, as the kubelet does.
    const w = 'waiting' in c.record.state ? c.record.state.waiting.reason : undefined;
    if (w !== 'CreateContainerError' && w !== 'ImagePullBackOff' && w !== 'ErrImagePull') {
      c.record.state = { waiting: { reason: 'ContainerCreating' } };
      this.markDirty(p);
    }

    let resolved;
    try {
      resolved = await this.opts.registry.resolve(image, await this.pullCredentials(p, image));
    } catch (err) {
      if (!live()) return;
      const message = err instanceof ImagePullError ? err.message : `failed to pull image "${image}": ${(err as Error).message}`;
      this.log.warn({ ...ids, err: message }, 'image pull failed');
      c.record.state = { waiting: { reason: 'ErrImagePull', message } };
      this.markDirty(p);
      c.timer = setTimeout(() => {
        if (!live()) return;
        c.record.state = { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}": ${message}` } };
        this.markDirty(p);
        c.timer = setTimeout(() => void (live() && this.startContainer(p, c)), this.timing.imagePullBackoffMs);
      }, Math.min(1000, this.timing.imagePullBackoffMs));
      return;
    }
    if (!live()) return;
    c.record.imageID = resolved.imageID;

    let run: AppRun;
    const nowMs = this.clock.now().getTime();
    if (resolved.checkpoint) {
      let failure: string | undefined;
      let saved: AppState | undefined;
      if (await this.restoreFails(image, resolved.imageID)) failure = 'criu restore failed';
      else {
        try {
          const archive = await readCheckpointArchive(resolved.checkpoint.archive);
          saved = archive.state;
          const original = archive.config.rootfsImageName;
          c.rootfsImage = typeof original === 'string' && original !== '' ? original : resolved.checkpoint.annotations['org.criu.checkpoint.rootfsImageName'];
        } catch (err) {
          failure = `criu restore failed: ${(err as Error).message}`;
        }
      }
      if (!live()) return;
      if (failure !== undefined || !saved) {
        this.log.warn({ ...ids, reason: failure }, 'restore failed');
        c.record.state = { waiting: { reason: 'CreateContainerError', message: failure ?? 'criu restore failed' } };
        this.markDirty(p);
        c.timer = setTimeout(() => void (live() && this.startContainer(p, c)), this.timing.restartBackoffMs);
        return;
      }
      run = restoredRun(saved, image, this.clock.now().getTime());
      this.log.info({ ...ids, counter: saved.counter }, 'container restored from checkpoint');
    } else {
      c.rootfsImage = undefined;
      run = freshRun(nowMs);
      this.log.info(ids, 'container started');
    }
    c.run = run;
    c.startedAt = new Date(run.startedAtMs);
    c.record.containerID = `cri-o://${randomBytes(32).toString('hex')}`;
    c.record.state = { running: { startedAt: rfc3339(c.startedAt) } };
    c.record.ready = true;
    this.markDirty(p);
    this.scheduleCrashes(p, c);
  }

  private stopContainer(c: SimContainer, how: { exitCode: number; reason: string; message?: string }): void {
    c.generation++;
    clearTimeout(c.timer);
    clearTimeout(c.crashTimer);
    // Cleared, not just cancelled: the next run schedules its own crash (a loop survives a restart).
    c.crashTimer = undefined;
    const now = rfc3339(this.clock.now());
    if (isRunning(c.record.state)) {
      const t = { exitCode: how.exitCode, reason: how.reason, startedAt: c.record.state.running.startedAt, finishedAt: now, ...(how.message ? { message: how.message } : {}), ...(c.record.containerID ? { containerID: c.record.containerID } : {}) };
      c.record.lastState = { terminated: t };
      c.record.state = { terminated: t };
    }
    c.run = undefined;
    c.record.ready = false;
  }

  /** Exit code 1; shown terminated, then restarted (restartCount+1) from the pod's current image after the backoff. */
  private crash(p: SimPod, c: SimContainer, why: string): void {
    this.log.info({ namespace: p.namespace, pod: p.name, container: c.record.name, why }, 'container exited with an error');
    this.stopContainer(c, { exitCode: 1, reason: 'Error', message: why });
    this.markDirty(p);
    const gen = c.generation;
    c.timer = setTimeout(() => {
      if (gen !== c.generation || p.deleting || p.gone || this.stopped) return;
      c.record.restartCount += 1;
      void this.startContainer(p, c);
    }, this.timing.restartBackoffMs);
  }

  private syncCrashToken(p: SimPod, c: SimContainer): void {
    const token = p.pod.metadata?.annotations?.[`${SIM_ANNOTATIONS.crashPrefix}${c.record.name}`];
    if (token === undefined || token === 'loop') {
      if (token === 'loop') this.scheduleCrashes(p, c);
      return;
    }
    if (token === c.lastCrashToken) return;
    c.lastCrashToken = token;
    if (isRunning(c.record.state)) this.crash(p, c, `crash requested (${token})`);
    else c.crashPending = true;
  }

  private scheduleCrashes(p: SimPod, c: SimContainer): void {
    if (!isRunning(c.record.state)) return;
    if (c.crashPending) {
      c.crashPending = false;
      this.crash(p, c, 'crash requested');
      return;
    }
    const loop = p.pod.metadata?.annotations?.[`${SIM_ANNOTATIONS.crashPrefix}${c.record.name}`] === 'loop';
    if (!loop || c.crashTimer) return;
    const gen = c.generation;
    c.crashTimer = setTimeout(() => {
      c.crashTimer = undefined;
      if (gen !== c.generation || !isRunning(c.record.state)) return;
      if (p.pod.metadata?.annotations?.[`${SIM_ANNOTATIONS.crashPrefix}${c.record.name}`] === 'loop') this.crash(p, c, 'crash loop');
    }, this.timing.crashLoopAfterMs);
  }

  // ---- status ---------------------------------------------------------------------------------

  /** Current state of running containers; null (removed by the merge patch) for stopped ones, so no stale state shows. */
  private stateAnnotations(p: SimPod): Record<string, string | null> {
    const out: Record<string, string | null> = {};
    const nowMs = this.clock.now().getTime();
    const have = p.pod.metadata?.annotations ?? {};
    for (const c of p.containers.values()) {
      const key = `${SIM_ANNOTATIONS.statePrefix}${c.record.name}`;
      if (c.run && isRunning(c.record.state)) out[key] = JSON.stringify(stateAt(c.run, nowMs));
      else if (key in have) out[key] = null;
    }
    return out;
  }

  private markDirty(p: SimPod): void {
    p.dirty = true;
    if (p.flushTimer || p.flushing) return;
    p.flushTimer = setTimeout(() => {
      p.flushTimer = undefined;
      void this.flush(p);
    }, 20);
  }

  private async flush(p: SimPod): Promise<void> {
    if (p.gone || p.flushing) return;
    p.flushing = true;
    try {
      while (p.dirty && !p.gone) {
        p.dirty = false;
        const status = buildPodStatus({
          hostIP: this.ip,
          podIP: p.podIP,
          startTime: p.startTime,
          restartPolicy: p.pod.spec?.restartPolicy ?? 'Always',
          initContainers: p.initContainers,
          containers: (p.pod.spec?.containers ?? []).map((s) => p.containers.get(s.name)?.record).filter((r): r is ContainerRecord => r !== undefined),
          previousConditions: (p.pod.status?.conditions ?? []).map((c) => ({ type: c.type, status: c.status, lastTransitionTime: c.lastTransitionTime })),
          now: this.clock.now(),
        });
        const body = { metadata: { annotations: this.stateAnnotations(p) }, status };
        try {
          const updated = await this.core.patchNamespacedPodStatus({ name: p.name, namespace: p.namespace, body, fieldManager: FIELD_MANAGER }, this.mergePatch);
          if (updated.metadata?.uid === p.uid) p.pod = updated;
        } catch (err) {
          const code = errCode(err);
          if (code === 404) {
            p.gone = true;
            break;
          }
          if (code !== undefined && code >= 400 && code < 500 && code !== 409 && code !== 429) {
            // Invalid or forbidden: retrying the same body cannot help; the next change tries again.
            this.log.error({ err, namespace: p.namespace, pod: p.name }, 'pod status update rejected');
            break;
          }
          this.log.warn({ err, namespace: p.namespace, pod: p.name }, 'pod status update failed; retrying');
          p.dirty = true;
          await new Promise((r) => setTimeout(r, 500));
          if (this.stopped) break;
        }
      }
    } finally {
      p.flushing = false;
    }
  }

  private async refreshStateAnnotations(): Promise<void> {
    for (const p of this.pods.values()) {
      if (p.deleting || p.gone) continue;
      if ([...p.containers.values()].some((c) => c.run && isRunning(c.record.state))) this.markDirty(p);
    }
  }

  // ---- checkpoint -----------------------------------------------------------------------------

  private async checkpointFails(): Promise<string | undefined> {
    if (this.failures.checkpointNext > 0) {
      this.failures.checkpointNext--;
      return 'injected by failNextCheckpoints';
    }
    if (this.failures.checkpointAll) return 'injected by failAllCheckpoints';
    if ((await this.nodeAnnotations())[SIM_ANNOTATIONS.failCheckpoint] === 'true') return `injected by node annotation ${SIM_ANNOTATIONS.failCheckpoint}`;
    return undefined;
  }

  async checkpoint(namespace: string, pod: string, container: string, timeoutSeconds: number): Promise<CheckpointOutcome> {
    const p = this.podByName(namespace, pod);
    if (!p) return { kind: 'no-pod' };
    if (this.find(namespace, pod, container) !== 'ok') return { kind: 'no-container' };
    const c = p.containers.get(container);
    if (!c || !c.run || !isRunning(c.record.state)) return { kind: 'failed', reason: `container ${container} not found` };
    const injected = await this.checkpointFails();
    const id = c.record.containerID?.replace(/^cri-o:\/\//, '') ?? '';
    if (injected) {
      this.log.info({ namespace, pod, container, injected }, 'checkpoint failing on purpose');
      return { kind: 'failed', reason: `rpc error: code = Unknown desc = failed to checkpoint container ${id}: running "criu dump" failed (${injected})` };
    }
    const at = this.clock.now();
    const path = join(this.checkpointDir, checkpointArchiveName(pod, namespace, container, at));
    const started = Date.now();
    const spec = p.pod.spec?.containers.find((s) => s.name === container);
    const state = stateAt(c.run, at.getTime());
    try {
      await writeCheckpointArchive(path, {
        containerId: id,
        containerName: container,
        podName: pod,
        namespace,
        podUid: p.uid,
        image: c.specImage,
        imageRef: c.record.imageID,
        rootfsImageName: this.rootfsImageName(c),
        podAnnotations: Object.fromEntries(Object.entries(p.pod.metadata?.annotations ?? {}).filter(([k]) => !k.startsWith(SIM_ANNOTATIONS.statePrefix))),
        podLabels: p.pod.metadata?.labels ?? {},
        args: [...(spec?.command ?? []), ...(spec?.args ?? [])],
        env: (spec?.env ?? []).filter((e) => e.value !== undefined).map((e) => `${e.name}=${e.value}`),
        createdAt: c.startedAt ?? at,
        checkpointedAt: at,
        state,
        memoryBytes: this.memoryBytes(p, container),
      });
    } catch (err) {
      return { kind: 'failed', reason: `rpc error: code = Unknown desc = failed to write checkpoint archive: ${(err as Error).message}` };
    }
    if (timeoutSeconds > 0 && Date.now() - started > timeoutSeconds * 1000) {
      await rm(path, { force: true });
      return { kind: 'failed', reason: 'rpc error: code = DeadlineExceeded desc = context deadline exceeded' };
    }
    this.log.info({ namespace, pod, container, path, counter: state.counter }, 'checkpoint archive written');
    return { kind: 'ok', path };
  }

  /** The image the container's filesystem comes from: for a restored container, the checkpoint's original. */
  private rootfsImageName(c: SimContainer): string {
    return c.rootfsImage ?? c.specImage;
  }
}
