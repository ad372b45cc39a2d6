// Asks a node's kubelet for a checkpoint of one container, one of two ways:
//  - direct (the default): POST https://<node IP>:<kubelet port>/checkpoint/{namespace}/{pod}/{container}
//    with the agent's own ServiceAccount token; the kubelet authenticates it (TokenReview) and
//    checks nodes/checkpoint create for the agent itself. No nodes/proxy grant is needed.
//  - proxy: POST /api/v1/nodes/{node}/proxy/checkpoint/… through the API server; the agent
//    needs nodes/proxy create (which reaches every kubelet endpoint, exec included), and the
//    kubelet checks the API server's own identity (manifests/rbac/kubelet-checkpoint.yaml).
import http from 'node:http';
import https from 'node:https';
import type { ClusterAccess } from '../kube/cluster-access.ts';
import { KubeletCheckpointError, describeErrorBody, parseCheckpointResponse } from './checkpoint-error.ts';
import type { KubeletEndpoint } from './kubelet-endpoint.ts';
import { readBoundedBody } from '../net/bounded-body.ts';

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

/** The kubelet's own path for a checkpoint: /checkpoint/{namespace}/{pod}/{container}[?timeout=s]. */
export function checkpointPath(c: Omit<CheckpointCall, 'node' | 'timeoutSeconds'> & { timeoutSeconds?: number }): string {
  const seg = encodeURIComponent;
  const query = c.timeoutSeconds === undefined ? '' : `?timeout=${Math.max(0, Math.floor(c.timeoutSeconds))}`;
  return `/checkpoint/${seg(c.namespace)}/${seg(c.pod)}/${seg(c.container)}${query}`;
}

export function checkpointProxyPath(c: Omit<CheckpointCall, 'timeoutSeconds'> & { timeoutSeconds?: number }): string {
  return `/api/v1/nodes/${encodeURIComponent(c.node)}/proxy${checkpointPath(c)}`;
}

/**
 * How the agent reaches the kubelet: through the API server, or at the kubelet's own address
 * (`endpoint`, from the Node the caller has just read) with this CA.
 */
export type KubeletAccess =
  | { kind: 'proxy' }
  | { kind: 'direct'; endpoint: KubeletEndpoint; ca: string | Buffer | undefined };

/** Resolves with the archive path the kubelet reports (a path on the node). */
export async function checkpointContainer(kc: ClusterAccess, call: CheckpointCall, access: KubeletAccess = { kind: 'proxy' }, signal?: AbortSignal): Promise<string> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the kubeconfig');
  const opts: https.RequestOptions = { method: 'POST', headers: { Accept: 'application/json, */*' } };
  // The agent's credentials (its token, or a client certificate) either way.
  await kc.applyToHTTPSOptions(opts);
  let url: URL;
  if (access.kind === 'direct') {
    const { host, port } = access.endpoint;
    url = new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}${checkpointPath(call)}`);
    // The kubelet's serving certificate is checked against its own CA (or the cluster's).
    // Checked against the node's name: a kubelet's own certificate often names only its host.
    opts.agent = new https.Agent({ ca: access.ca ?? opts.ca, cert: opts.cert, key: opts.key, servername: call.node, keepAlive: false });
    opts.servername = call.node;
  } else {
    url = new URL(cluster.server.replace(/\/$/, '') + checkpointProxyPath(call));
  }
  const via = access.kind === 'direct' ? 'the kubelet' : "the API server's node proxy";
  const transport = url.protocol === 'http:' ? http : https;
  const timeoutMs = (call.timeoutSeconds > 0 ? call.timeoutSeconds * 1000 : 120_000) + REQUEST_MARGIN_MS;
  const where = `${call.namespace}/${call.pod}/${call.container} on node ${call.node}`;

  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = transport.request(url, { ...opts, ...(signal ? { signal } : {}) }, (res) => {
      readBoundedBody(res, MAX_BODY, (body) => resolve({ status: res.statusCode ?? 0, body }), reject);
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
    throw new KubeletCheckpointError(`checkpoint of ${where}: no answer from ${via} at ${url.host} (${code ?? String(err)})`, {
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
    { node: call.node, status, fromApiServer, direct: access.kind === 'direct', detail },
  );
}
