// Starts N simulated nodes in this process. Node identities (kubeconfig + kubelet TLS) come
// from an injected factory, so the same code runs against the local cluster's PKI
// (local-identity.ts) or any other CA a test brings.
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { silentLogger, type Logger } from '../../../src/log.ts';
import { createRegistryClient, type RegistryClient } from './registry-client.ts';
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
   * The nodes' InternalIP (they listen there, each on its own port). Default: this machine's
   * first non-loopback IPv4 address, because the API server's node proxy refuses loopback
   * addresses ("address not allowed": only global unicast IPs are proxied). 'loopback' gives
   * node i its own 127.0.0.<firstIpOctet + i - 1> instead (direct calls only, no node proxy).
   */
  address?: string;
  /** With address 'loopback': node i gets 127.0.0.<firstIpOctet + i - 1>. Default 11. */
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

export async function startSimulatedNodes(opts: StartSimulatedNodesOptions): Promise<SimulatedNodes> {
  const count = opts.count ?? 2;
  const prefix = opts.namePrefix ?? 'sim-node-';
  const first = opts.firstIpOctet ?? 11;
  const shared = opts.address === 'loopback' ? undefined : (opts.address ?? hostAddress());
  const registry = opts.registry ?? createRegistryClient();
  const logger = opts.logger ?? silentLogger();
  const nodes: SimulatedNode[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const name = `${prefix}${i + 1}`;
      const ip = shared ?? nodeIp(first, i);
      const id = await opts.identity(name, ip);
      const node = new SimulatedNode({
        name,
        ip,
        kubeConfig: id.kubeConfig,
        tls: id.tls,
        checkpointDir: join(opts.checkpointRoot, name, 'checkpoints'),
        registry,
        logger,
        podCidrIndex: first + i,
        ...(opts.clock ? { clock: opts.clock } : {}),
        ...(opts.timing ? { timing: opts.timing } : {}),
        ...(opts.authorization ? { authorization: opts.authorization } : {}),
        ...(opts.labels ? { labels: opts.labels } : {}),
        ...(opts.defaultMemoryBytes ? { defaultMemoryBytes: opts.defaultMemoryBytes } : {}),
      });
      nodes.push(node);
      await node.start();
    }
  } catch (err) {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    throw err;
  }
  return {
    nodes,
    node(name) {
      const n = nodes.find((x) => x.name === name);
      if (!n) throw new Error(`no simulated node ${name} (have ${nodes.map((x) => x.name).join(', ')})`);
      return n;
    },
    async stop() {
      await Promise.allSettled(nodes.map((n) => n.stop()));
    },
  };
}
