import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { AgentFailure } from '../../../src/agent/agent-failure.ts';
import { ArchivePathError } from '../../../src/agent/archive-path.ts';
import { classifyFailure } from '../../../src/agent/classify-failure.ts';
import { RegistryError } from '../../../src/images/registry-error.ts';
import { describeErrorBody, KubeletCheckpointError, parseCheckpointResponse } from '../../../src/kubelet/checkpoint-error.ts';

const ctx = { node: 'node-1', namespace: 'apps', pod: 'web-0', container: 'app', registrySecret: 'kcr-system/kcr-registry' };
const kubelet = (status: number | undefined, body = '', code?: string) =>
  new KubeletCheckpointError('x', { node: 'node-1', status, ...describeErrorBody(body), code });
const apiStatus = (code: number, message: string) => JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code });

describe('failure classification', () => {
  it.each([
    [kubelet(undefined, '', 'ECONNRESET'), true, 'KubeletUnreachable'],
    [kubelet(500, 'checkpointing of apps/web-0/app failed (criu dump failed)'), true, 'CheckpointFailed'],
    [kubelet(502, apiStatus(502, 'error trying to reach service: dial tcp: connect: connection refused')), true, 'KubeletUnavailable'],
    [kubelet(503), true, 'KubeletUnavailable'],
    [kubelet(429), true, 'KubeletUnavailable'],
    [kubelet(404, 'container app does not exist'), false, 'ContainerNotFound'],
    [kubelet(404, apiStatus(404, 'nodes "node-1" not found')), false, 'NodeNotFound'],
    [kubelet(403, 'Forbidden (user=kube-apiserver-kubelet-client, verb=create, resource=nodes, subresource(s)=[checkpoint])'), false, 'Forbidden'],
    [kubelet(403, apiStatus(403, 'nodes "node-1" is forbidden: User "system:serviceaccount:kcr-system:kcr-agent" cannot create resource "nodes/proxy"')), false, 'Forbidden'],
    [kubelet(401, 'Unauthorized'), false, 'Unauthorized'],
    [kubelet(400, 'bad request'), false, 'CheckpointRejected'],
    [new RegistryError('registry r unreachable', { kind: 'unreachable', registry: 'r' }), true, 'RegistryUnavailable'],
    [new RegistryError('registry r: HTTP 503', { kind: 'server', registry: 'r', status: 503 }), true, 'RegistryUnavailable'],
    [new RegistryError('registry r: denied', { kind: 'unauthorized', registry: 'r', status: 401 }), false, 'RegistryUnauthorized'],
    [new RegistryError('registry r: cert', { kind: 'tls', registry: 'r' }), false, 'RegistryTLS'],
    [new RegistryError('archive unreadable', { kind: 'source', registry: 'r' }), false, 'ArchiveUnreadable'],
    [new RegistryError('bad manifest', { kind: 'rejected', registry: 'r', status: 400 }), false, 'RegistryRejected'],
    [new ApiException(429, 'too many', apiStatus(429, 'slow down'), {}), true, 'APIUnavailable'],
    [new ApiException(500, 'boom', apiStatus(500, 'etcd'), {}), true, 'APIUnavailable'],
    [new ApiException(409, 'conflict', apiStatus(409, 'the object has been modified'), {}), true, 'APIUnavailable'],
    [new ApiException(403, 'forbidden', apiStatus(403, 'cannot patch checkpointrequests/status'), {}), false, 'Forbidden'],
    [new ApiException(422, 'invalid', apiStatus(422, 'spec.x: Invalid value'), {}), false, 'APIRejected'],
    [new AgentFailure('PodNotFound', 'pod apps/web-0 no longer exists'), false, 'PodNotFound'],
    [new ArchivePathError('no archive'), false, 'ArchiveNotFound'],
    [Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6443'), { code: 'ECONNREFUSED' }), true, 'Error'],
  ])('%s -> transient %s, reason %s', (err, transient, reason) => {
    const f = classifyFailure(err, ctx);
    expect(f).toMatchObject({ transient, reason });
    expect(f.message.length).toBeGreaterThan(0);
  });

  it('explains a 404 from the kubelet in words: the pod or container is gone', () => {
    const f = classifyFailure(kubelet(404, 'container app does not exist'), ctx);
    expect(f.message).toContain('container app of pod apps/web-0');
    expect(f.message).toContain('gone');
    expect(f.message).toContain('container app does not exist');
  });

  it('tells the two 403s apart: the agent lacks nodes/proxy, or the API server lacks nodes/checkpoint at the kubelet', () => {
    const atApi = classifyFailure(kubelet(403, apiStatus(403, 'cannot create resource "nodes/proxy"')), ctx);
    expect(atApi.message).toContain('nodes/proxy');
    expect(atApi.message).toContain('manifests/rbac/agent.yaml');
    const atKubelet = classifyFailure(kubelet(403, 'Forbidden (user=kube-apiserver-kubelet-client, verb=create, resource=nodes, subresource(s)=[checkpoint])'), ctx);
    expect(atKubelet.message).toContain('nodes/checkpoint');
    expect(atKubelet.message).toContain('kubelet-checkpoint.yaml');
  });

  it('called directly, the kubelet’s 403 is about the agent’s own nodes/checkpoint grant', () => {
    const direct = new KubeletCheckpointError('x', { node: 'node-1', status: 403, direct: true, ...describeErrorBody('Forbidden (user=system:serviceaccount:kcr-system:kcr-agent, verb=create, resource=nodes, subresource(s)=[checkpoint])') });
    const f = classifyFailure(direct, ctx);
    expect(f).toMatchObject({ transient: false, reason: 'Forbidden' });
    expect(f.message).toContain('refused kcr\'s agent');
    expect(f.message).toContain('"create" on nodes/checkpoint (manifests/rbac/agent.yaml)');
    expect(f.message).not.toContain('kubelet-checkpoint.yaml');
  });

  it('names the registry Secret when the registry refuses the credentials, never its content', () => {
    const f = classifyFailure(new RegistryError('registry r: storing manifest denied', { kind: 'unauthorized', registry: 'r', status: 401 }), ctx);
    expect(f.message).toContain('kcr-system/kcr-registry');
  });
});

describe('kubelet answers', () => {
  it('reads the archive path from {"items":[path]}', () => {
    expect(parseCheckpointResponse('{"items":["/var/lib/kubelet/checkpoints/a.tar"]}')).toBe('/var/lib/kubelet/checkpoints/a.tar');
    for (const bad of ['', 'not json', '{}', '{"items":[]}', '{"items":[3]}', '{"items":[""]}', 'null']) expect(parseCheckpointResponse(bad)).toBeUndefined();
  });

  it('tells an API server Status from kubelet text', () => {
    expect(describeErrorBody(apiStatus(404, 'nodes "x" not found'))).toEqual({ fromApiServer: true, detail: 'nodes "x" not found' });
    expect(describeErrorBody('pod does not exist\n')).toEqual({ fromApiServer: false, detail: 'pod does not exist' });
    expect(describeErrorBody('{"kind":"Other"}').fromApiServer).toBe(false);
    expect(describeErrorBody('x'.repeat(5000)).detail?.length).toBe(500);
  });
});
