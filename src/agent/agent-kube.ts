// The agent's Kubernetes API calls, behind an interface so the job processor can be driven by a
// fake in tests. The implementation uses client-node with the agent's ServiceAccount
// (manifests/rbac/agent.yaml lists exactly these calls). Status is always written through the
// status subresource with a JSON merge patch.
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import {
  GROUP,
  PLURALS,
  VERSION,
  type Checkpoint,
  type CheckpointRequest,
  type CheckpointRequestStatus,
  type CheckpointStatus,
} from '../api/types.ts';
import { apiCode } from '../kube/api-error.ts';

export interface AgentEvent {
  namespace: string;
  involved: { apiVersion: string; kind: string; name: string; uid?: string | undefined };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface AgentKube {
  /** Undefined when the request no longer exists. */
  getRequest(namespace: string, name: string): Promise<CheckpointRequest | undefined>;
  patchRequestStatus(namespace: string, name: string, status: CheckpointRequestStatus): Promise<void>;
  getPod(namespace: string, name: string): Promise<V1Pod | undefined>;
  getNode(name: string): Promise<V1Node>;
  /** Merge patch of the node's labels and annotations (null removes a key). */
  patchNodeMetadata(name: string, metadata: { labels?: Record<string, string | null>; annotations?: Record<string, string | null> }): Promise<void>;
  getCheckpoint(namespace: string, name: string): Promise<Checkpoint | undefined>;
  /** 'exists' when a Checkpoint of that name is already there (a retried job); `generation`: the created object's metadata.generation. */
  createCheckpoint(checkpoint: Checkpoint): Promise<{ outcome: 'created' | 'exists'; generation?: number | undefined }>;
  patchCheckpointStatus(namespace: string, name: string, status: CheckpointStatus): Promise<void>;
  event(event: AgentEvent): Promise<void>;
  /** `.dockerconfigjson` of the registry Secret; undefined when there is no such Secret. */
  registryDockerConfig(): Promise<string | undefined>;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function isNotFound(err: unknown): boolean {
  return apiCode(err) === 404;
}

async function orUndefined<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function createAgentKube(kc: KubeConfig, options: { registrySecret: { namespace: string; name: string }; component?: string; host?: string }): AgentKube {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const obj = (plural: string, namespace: string, name: string) => ({ group: GROUP, version: VERSION, plural, namespace, name });
  return {
    getRequest: (namespace, name) =>
      orUndefined(custom.getNamespacedCustomObject(obj(PLURALS.CheckpointRequest, namespace, name)) as Promise<CheckpointRequest>),
    async patchRequestStatus(namespace, name, status) {
      await custom.patchNamespacedCustomObjectStatus({ ...obj(PLURALS.CheckpointRequest, namespace, name), body: { status } }, mergePatch);
    },
    getPod: (namespace, name) => orUndefined(core.readNamespacedPod({ namespace, name })),
    getNode: (name) => core.readNode({ name }),
    async patchNodeMetadata(name, metadata) {
      await core.patchNode({ name, body: { metadata } }, mergePatch);
    },
    getCheckpoint: (namespace, name) => orUndefined(custom.getNamespacedCustomObject(obj(PLURALS.Checkpoint, namespace, name)) as Promise<Checkpoint>),
    async createCheckpoint(checkpoint) {
      const namespace = checkpoint.metadata.namespace!;
      try {
        const created = (await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURALS.Checkpoint, namespace, body: checkpoint })) as Checkpoint;
        return { outcome: 'created', generation: created.metadata?.generation };
      } catch (err) {
        if (apiCode(err) === 409) return { outcome: 'exists' };
        throw err;
      }
    },
    async patchCheckpointStatus(namespace, name, status) {
      await custom.patchNamespacedCustomObjectStatus({ ...obj(PLURALS.Checkpoint, namespace, name), body: { status } }, mergePatch);
    },
    async event(e) {
      const now = new Date();
      await core.createNamespacedEvent({
        namespace: e.namespace,
        body: {
          metadata: { generateName: `${e.involved.name.slice(0, 200)}.`, namespace: e.namespace },
          involvedObject: { ...e.involved, namespace: e.namespace },
          type: e.type,
          reason: e.reason,
          message: e.message.slice(0, 1024),
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: options.component ?? 'kcr-agent', ...(options.host ? { host: options.host } : {}) },
          reportingComponent: options.component ?? 'kcr-agent',
          ...(options.host ? { reportingInstance: options.host } : {}),
        },
      });
    },
    async registryDockerConfig() {
      const { namespace, name } = options.registrySecret;
      const secret = await orUndefined(core.readNamespacedSecret({ namespace, name }));
      const data = secret?.data?.['.dockerconfigjson'] ?? secret?.data?.['.dockercfg'];
      return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
    },
  };
}
