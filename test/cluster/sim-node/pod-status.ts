// The pod status a kubelet would report, computed from the node's container records.
// Pure: plain data in, the status object (JSON as the API server takes it) out.

export type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | { terminated: { exitCode: number; reason: string; message?: string; startedAt: string; finishedAt: string; containerID?: string } };

export interface ContainerRecord {
  name: string;
  image: string;
  /** Empty until the image was resolved. */
  imageID: string;
  containerID?: string;
  state: ContainerState;
  lastState?: ContainerState;
  restartCount: number;
  ready: boolean;
}

export interface PodCondition {
  type: string;
  status: 'True' | 'False';
  lastProbeTime: null;
  lastTransitionTime: string;
  reason?: string;
  message?: string;
}

export interface StatusInput {
  hostIP: string;
  podIP: string;
  startTime: string;
  restartPolicy: string;
  initContainers: ContainerRecord[];
  containers: ContainerRecord[];
  previousConditions: { type: string; status: string; lastTransitionTime?: string | Date }[];
  now: Date;
}

export function isRunning(s: ContainerState): s is { running: { startedAt: string } } {
  return 'running' in s;
}

function containerStatusJson(c: ContainerRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: c.name,
    image: c.image,
    imageID: c.imageID,
    ready: c.ready,
    started: isRunning(c.state),
    restartCount: c.restartCount,
    state: c.state,
    lastState: c.lastState ?? {},
  };
  if (c.containerID) out.containerID = c.containerID;
  return out;
}

export function podPhase(input: Pick<StatusInput, 'containers' | 'restartPolicy'>): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  const cs = input.containers;
  if (cs.length > 0 && cs.every((c) => 'terminated' in c.state) && input.restartPolicy === 'Never') {
    return cs.every((c) => 'terminated' in c.state && c.state.terminated.exitCode === 0) ? 'Succeeded' : 'Failed';
  }
  // The kubelet: Running once a container runs or is being restarted after it ran.
  if (cs.some((c) => isRunning(c.state) || c.restartCount > 0 || 'terminated' in c.state)) return 'Running';
  return 'Pending';
}

export function buildPodStatus(input: StatusInput): Record<string, unknown> {
  const nowIso = input.now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const prev = new Map(input.previousConditions.map((c) => [c.type, c]));
  const cond = (type: string, ok: boolean, reason?: string): PodCondition => {
    const p = prev.get(type);
    const status = ok ? 'True' : 'False';
    const stamp = p && p.status === status && p.lastTransitionTime ? new Date(p.lastTransitionTime).toISOString().replace(/\.\d{3}Z$/, 'Z') : nowIso;
    const c: PodCondition = { type, status, lastProbeTime: null, lastTransitionTime: stamp };
    if (!ok && reason) c.reason = reason;
    return c;
  };
  const allReady = input.containers.length > 0 && input.containers.every((c) => c.ready);
  const notReady = input.containers.filter((c) => !c.ready).map((c) => c.name);
  const conditions = [
    cond('PodReadyToStartContainers', true),
    cond('Initialized', true),
    { ...cond('Ready', allReady, 'ContainersNotReady'), ...(allReady ? {} : { message: `containers with unready status: [${notReady.join(' ')}]` }) },
    { ...cond('ContainersReady', allReady, 'ContainersNotReady'), ...(allReady ? {} : { message: `containers with unready status: [${notReady.join(' ')}]` }) },
    cond('PodScheduled', true),
  ];
  return {
    phase: podPhase(input),
    conditions,
    hostIP: input.hostIP,
    hostIPs: [{ ip: input.hostIP }],
    podIP: input.podIP,
    podIPs: [{ ip: input.podIP }],
    startTime: input.startTime,
    initContainerStatuses: input.initContainers.length > 0 ? input.initContainers.map(containerStatusJson) : null,
    containerStatuses: input.containers.map(containerStatusJson),
    qosClass: undefined,
  };
}
