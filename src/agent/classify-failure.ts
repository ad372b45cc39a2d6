// Why a checkpoint job failed, for the retry decision and for the user: transient failures
// (kubelet 5xx or no answer, registry unreachable or 5xx, API server 429/5xx/conflicts) are
// retried with backoff; permanent ones (pod or container gone, 403 from either side, registry
// credentials refused, bad request) end the CheckpointRequest at once. Pure.
import { apiCode, type KubeApiError } from '../kube/api-error.ts';
import { RegistryError } from '../images/registry-error.ts';
import { KubeletCheckpointError } from '../kubelet/checkpoint-error.ts';
import { AgentFailure } from './agent-failure.ts';
import { ArchivePathError } from './archive-path.ts';

export interface FailureContext {
  node: string;
  namespace: string;
  pod: string;
  container: string;
  /** `namespace/name` of the registry Secret, named in credential failures. */
  registrySecret: string;
}

export interface ClassifiedFailure {
  transient: boolean;
  /** CamelCase, for Events and conditions. */
  reason: string;
  message: string;
}

export function classifyFailure(err: unknown, ctx: FailureContext): ClassifiedFailure {
  if (err instanceof AgentFailure) return { transient: err.transient, reason: err.reason, message: err.message };
  if (err instanceof KubeletCheckpointError) return classifyKubelet(err, ctx);
  if (err instanceof RegistryError) return classifyRegistry(err, ctx);
  if (err instanceof ArchivePathError) return { transient: false, reason: 'ArchiveNotFound', message: err.message };
  const status = apiCode(err);
  if (status !== undefined) return classifyApi(status, apiMessage(err as KubeApiError));
  const code = (err as { code?: unknown } | null)?.code;
  const text = err instanceof Error ? err.message : String(err);
  // No HTTP answer at all (API server restarting, network): worth another try.
  return { transient: true, reason: 'Error', message: typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text };
}

function classifyKubelet(err: KubeletCheckpointError, ctx: FailureContext): ClassifiedFailure {
  const target = `container ${ctx.container} of pod ${ctx.namespace}/${ctx.pod}`;
  const detail = err.detail ? ` (${err.detail})` : '';
  const s = err.status;
  if (s === undefined) {
    return {
      transient: true,
      reason: 'KubeletUnreachable',
      message: `the kubelet on node ${ctx.node} did not answer the checkpoint call for ${target}: ${err.code ?? err.message}`,
    };
  }
  if (s === 404) {
    return err.fromApiServer
      ? { transient: false, reason: 'NodeNotFound', message: `node ${ctx.node} is not known to the API server${detail}` }
      : {
          transient: false,
          reason: 'ContainerNotFound',
          message:
            `the kubelet on node ${ctx.node} has no ${target}: the pod or container is gone ` +
            `(or the kubelet's ContainerCheckpoint feature gate is off)${detail}`,
        };
  }
  if (s === 403 && err.direct) {
    return {
      transient: false,
      reason: 'Forbidden',
      message: `the kubelet on node ${ctx.node} refused kcr's agent a checkpoint of ${target}: its ServiceAccount needs "create" on nodes/checkpoint (manifests/rbac/agent.yaml)${detail}`,
    };
  }
  if (s === 403) {
    return err.fromApiServer
      ? {
          transient: false,
          reason: 'Forbidden',
          message: `kcr's agent may not call the kubelet through the API server: its ServiceAccount needs "create" on nodes/proxy (manifests/rbac/agent.yaml)${detail}`,
        }
      : {
          transient: false,
          reason: 'Forbidden',
          message:
            `the kubelet on node ${ctx.node} refused the API server's checkpoint call for ${target}: the API server's ` +
            `kubelet-client user needs "create" on nodes/checkpoint - apply manifests/rbac/kubelet-checkpoint.yaml with the ` +
            `user name of your cluster's --kubelet-client-certificate${detail}`,
        };
  }
  if (s === 401) {
    return { transient: false, reason: 'Unauthorized', message: `the checkpoint call for ${target} was not authenticated (HTTP 401)${detail}` };
  }
  if (s === 429 || s === 408 || s >= 500) {
    return {
      transient: true,
      reason: s === 500 ? 'CheckpointFailed' : 'KubeletUnavailable',
      message:
        s === 500
          ? `the container runtime on node ${ctx.node} failed to checkpoint ${target}${detail}`
          : `the checkpoint call for ${target} on node ${ctx.node} answered HTTP ${s}${detail}`,
    };
  }
  return { transient: false, reason: 'CheckpointRejected', message: `the kubelet on node ${ctx.node} rejected the checkpoint of ${target} (HTTP ${s})${detail}` };
}

function classifyRegistry(err: RegistryError, ctx: FailureContext): ClassifiedFailure {
  switch (err.kind) {
    case 'unreachable':
    case 'server':
      return { transient: true, reason: 'RegistryUnavailable', message: err.message };
    case 'unauthorized':
      return {
        transient: false,
        reason: 'RegistryUnauthorized',
        message: `${err.message}: check the credentials for ${err.registry} in Secret ${ctx.registrySecret}`,
      };
    case 'tls':
      return { transient: false, reason: 'RegistryTLS', message: err.message };
    case 'source':
      return { transient: false, reason: 'ArchiveUnreadable', message: err.message };
    default:
      return { transient: false, reason: 'RegistryRejected', message: err.message };
  }
}

function classifyApi(code: number, message: string): ClassifiedFailure {
  if (code === 0 || code === 408 || code === 409 || code === 429 || code >= 500) {
    return { transient: true, reason: 'APIUnavailable', message: `the API server answered HTTP ${code}: ${message}` };
  }
  if (code === 403) {
    return { transient: false, reason: 'Forbidden', message: `kcr's agent lacks a permission (check manifests/rbac/agent.yaml): ${message}` };
  }
  return { transient: false, reason: 'APIRejected', message: `the API server answered HTTP ${code}: ${message}` };
}

function apiMessage(err: KubeApiError): string {
  const body: unknown = err.body;
  if (typeof body === 'string') {
    try {
      const m = (JSON.parse(body) as { message?: unknown }).message;
      if (typeof m === 'string') return m;
    } catch {
      // plain text
    }
    return body.slice(0, 300) || err.message;
  }
  if (body !== null && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    return (body as { message: string }).message;
  }
  return err.message;
}
