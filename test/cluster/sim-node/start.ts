// Starts N simulated nodes in this process. Node identities (kubeconfig + kubelet TLS) come
// from an injected factory, so the same code runs against the local cluster's PKI
// (local-identity.ts) or any other CA a test brings.
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { silentLogger, type Logger } from '../../../src/log.ts';
import { createRegistryClient, type RegistryClient } from './registry-client.ts';
import { ensureNodeNetwork, KUBELET_PORT, nodeNetworkIp, nodeNetworkUnavailable, startForwarder, type Forwarder } from '../netns/node-network.ts';
import { SimulatedNode, type Clock, type NodeTiming, type SimulatedNodeOptions } from './simulated-node.ts';

export interface NodeIdentity {
  /** Authenticates as system:node:<name> (group system:nodes). */
  kubeConfig: KubeConfig;
  /** Kubelet serving cert for the node's IP; clientCa verifies callers (the API server's kubelet client). */
  tls: { cert: string; key: string; clientCa: string };
}

export type NodeIdentityFactory = (name: string, ip: string) => Promise<NodeIdentity> | NodeIdentity;

export interface StartSimulatedNodesOptions {
  count?: number;
  /** Node names are <prefix><i>, i from 1. Default "sim-node-". */
  namePrefix?: string;
  /**
   * How the API server reaches the kubelets. Its node proxy refuses loopback addresses, so:
   * - 'netns' (default where possible: root and iproute2): each node gets an address in the
   *   run's private network namespace (test/cluster/netns), 10.213.0.<11+netnsIndexOffset+i>:10250,
   *   forwarded to its kubelet server on 127.0.0.1;
   * - 'host': all nodes on this machine's first non-loopback IPv4 (or `address`), each its own port;
   * - 'loopback': node i on 127.0.0.<firstIpOctet+i>: direct calls only, no node proxy.
   */
  network?: 'netns' | 'host' | 'loopback';
  /** With 'host': the address to use instead of the first non-loopback one. */
  address?: string;
  /** With 'netns': first node index in the namespace's address range (keeps concurrent sets apart). */
  netnsIndexOffset?: number;
  /** With 'loopback': node i gets 127.0.0.<firstIpOctet + i>. Default 11. */
  firstIpOctet?: number;
  identity: NodeIdentityFactory;
  /** Node i keeps its archives in <checkpointRoot>/<name>/checkpoints. */
  checkpointRoot: string;
  registry?: RegistryClient;
  logger?: Logger;
  clock?: Clock;
  timing?: Partial<NodeTiming>;
  authorization?: SimulatedNodeOptions['authorization'];
  labels?: Record<string, string>;
  defaultMemoryBytes?: number;
}

export interface SimulatedNodes {
  nodes: SimulatedNode[];
  network: 'netns' | 'host' | 'loopback';
  node(name: string): SimulatedNode;
  stop(): Promise<void>;
}

export function nodeIp(firstIpOctet: number, index: number): string {
  const last = firstIpOctet + index;
  if (last < 2 || last > 254) throw new Error(`node IP 127.0.0.${last} is out of range: lower count or firstIpOctet`);
  return `127.0.0.${last}`;
}

/** This machine's first non-internal IPv4 address; undefined when it has none. */
export function hostAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/** The network mode startSimulatedNodes picks when none is given. */
export function defaultNetwork(): 'netns' | 'host' | 'loopback' {
  if (nodeNetworkUnavailable() === undefined) return 'netns';
  return hostAddress() ? 'host' : 'loopback';
}

export async function startSimulatedNodes(opts: StartSimulatedNodesOptions): Promise<SimulatedNodes> {
  const count = opts.count ?? 2;
  const prefix = opts.namePrefix ?? 'sim-node-';
  const first = opts.firstIpOctet ?? 11;
  const network = opts.network ?? defaultNetwork();
  const shared = network === 'host' ? (opts.address ?? hostAddress()) : undefined;
  if (network === 'host' && !shared) throw new Error('no non-loopback IPv4 address on this machine for the simulated nodes');
  const offset = opts.netnsIndexOffset ?? 0;
  const ipOf = (i: number) => (network === 'netns' ? nodeNetworkIp(offset + i) : (shared ?? nodeIp(first, i)));
  if (network === 'netns') ensureNodeNetwork(Array.from({ length: count }, (_, i) => ipOf(i)));
  const registry = opts.registry ?? createRegistryClient();
  const logger = opts.logger ?? silentLogger();
  const nodes: SimulatedNode[] = [];
  let forwarder: Forwarder | undefined;
  const stopAll = async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await forwarder?.stop();
  };
  try {
    for (let i = 0; i < count; i++) {
      const name = `${prefix}${i + 1}`;
      const ip = ipOf(i);
      const id = await opts.identity(name, ip);
      const node = new SimulatedNode({
        name,
        ip,
        ...(network === 'netns' ? { port: KUBELET_PORT, listenHost: '127.0.0.1' } : {}),
        kubeConfig: id.kubeConfig,
        tls: id.tls,
        checkpointDir: join(opts.checkpointRoot, name, 'checkpoints'),
        registry,
        logger,
        podCidrIndex: (network === 'netns' ? 11 + offset : first) + i,
        ...(opts.clock ? { clock: opts.clock } : {}),
        ...(opts.timing ? { timing: opts.timing } : {}),
        ...(opts.authorization ? { authorization: opts.authorization } : {}),
        ...(opts.labels ? { labels: opts.labels } : {}),
        ...(opts.defaultMemoryBytes ? { defaultMemoryBytes: opts.defaultMemoryBytes } : {}),
      });
      nodes.push(node);
      await node.start();
    }
    if (network === 'netns') {
      forwarder = await startForwarder(nodes.map((n) => ({ listen: `${n.ip}:${n.port}`, target: n.listenAddress })));
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    nodes,
    network,
    node(name) {
      const n = nodes.find((x) => x.name === name);
      if (!n) throw new Error(`no simulated node ${name} (have ${nodes.map((x) => x.name).join(', ')})`);
      return n;
    },
    stop: stopAll,
  };
}
