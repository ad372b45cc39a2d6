// Asks a node's kubelet for a checkpoint of one container through the API server's node proxy:
//   POST /api/v1/nodes/{node}/proxy/checkpoint/{namespace}/{pod}/{container}?timeout=<seconds>
// The agent needs nodes/proxy create; the kubelet then checks the API server's own identity for
// nodes/checkpoint create (manifests/rbac/kubelet-checkpoint.yaml).
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeletCheckpointError, describeErrorBody, parseCheckpointResponse } from './checkpoint-error.ts';

export interface CheckpointCall {
  node: string;
  namespace: string;
  pod: string;
  container: string;
  /** Passed to the kubelet (0: the runtime's default). */
  timeoutSeconds: number;
}

/** Extra time the HTTP request waits beyond the kubelet's own timeout (proxy, archive write). */
export const REQUEST_MARGIN_MS = 30_000;
const MAX_BODY = 64 * 1024;

export function checkpointProxyPath(c: Omit<CheckpointCall, 'timeoutSeconds'> & { timeoutSeconds?: number }): string {
  const seg = encodeURIComponent;
  const query = c.timeoutSeconds === undefined ? '' : `?timeout=${Math.max(0, Math.floor(c.timeoutSeconds))}`;
  return `/api/v1/nodes/${seg(c.node)}/proxy/checkpoint/${seg(c.namespace)}/${seg(c.pod)}/${seg(c.container)}${query}`;
}

/** Resolves with the archive path the kubelet reports (a path on the node). */
export async function checkpointContainer(kc: KubeConfig, call: CheckpointCall, signal?: AbortSignal): Promise<string> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the kubeconfig');
  const path = checkpointProxyPath(call);
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  const opts: https.RequestOptions = { method: 'POST', headers: { Accept: 'application/json, */*' } };
  await kc.applyToHTTPSOptions(opts);
  const transport = url.protocol === 'http:' ? http : https;
  const timeoutMs = (call.timeoutSeconds > 0 ? call.timeoutSeconds * 1000 : 120_000) + REQUEST_MARGIN_MS;
  const where = `${call.namespace}/${call.pod}/${call.container} on node ${call.node}`;

  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = transport.request(url, { ...opts, ...(signal ? { signal } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(timeoutMs, () => {
      const err = new Error(`no answer within ${timeoutMs} ms`) as Error & { code: string };
      err.code = 'ETIMEDOUT';
      req.destroy(err);
    });
    req.on('error', reject);
    req.end();
  }).catch((err: unknown) => {
    const code = (err as { code?: string }).code;
    throw new KubeletCheckpointError(`checkpoint of ${where}: no answer from the API server's node proxy (${code ?? String(err)})`, {
      node: call.node,
      code,
      cause: err,
    });
  });

  if (status >= 200 && status < 300) {
    const archive = parseCheckpointResponse(body);
    if (archive === undefined) {
      throw new KubeletCheckpointError(`checkpoint of ${where}: the kubelet answered ${status} without an archive path`, {
        node: call.node,
        status: 502,
        detail: body.slice(0, 200),
      });
    }
    return archive;
  }
  const { fromApiServer, detail } = describeErrorBody(body);
  throw new KubeletCheckpointError(
    `checkpoint of ${where}: HTTP ${status} from the ${fromApiServer ? 'API server' : 'kubelet'}${detail ? `: ${detail}` : ''}`,
    { node: call.node, status, fromApiServer, detail },
  );
}
