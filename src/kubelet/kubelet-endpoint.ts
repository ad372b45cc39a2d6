// Where an agent reaches its own node's kubelet directly: the node's InternalIP (else its first
// address) and the port the kubelet reports (status.daemonEndpoints.kubeletEndpoint, 10250 by
// default). Pure: the Node in, the endpoint or why none out.
export interface KubeletEndpoint {
  host: string;
  port: number;
}

interface NodeLike {
  metadata?: { name?: string };
  status?: { addresses?: Array<{ type?: string; address?: string }>; daemonEndpoints?: { kubeletEndpoint?: { Port?: number } } };
}

export const DEFAULT_KUBELET_PORT = 10250;

export function kubeletEndpoint(node: NodeLike): KubeletEndpoint | { error: string } {
  const addresses = (node.status?.addresses ?? []).filter((a) => typeof a.address === 'string' && a.address !== '');
  const chosen = addresses.find((a) => a.type === 'InternalIP') ?? addresses.find((a) => a.type === 'ExternalIP') ?? addresses[0];
  if (chosen === undefined) return { error: `node ${node.metadata?.name ?? '?'} reports no address for its kubelet` };
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  return { host: chosen.address!, port: typeof port === 'number' && port > 0 && port < 65536 ? port : DEFAULT_KUBELET_PORT };
}
