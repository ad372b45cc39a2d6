// A private test host for the local nodes.
//
// The API server's node proxy only dials global-unicast addresses (never loopback), and the
// kubelet's --node-ip must be an address of its own network namespace that is not loopback. So
// the run makes its own network namespace `kcr-nodes`, joined to this one by a veth pair on
// 10.213.0.0/24, and gives each node an address inside it, where its kubelet listens on 10250
// as on a real node (the API server reaches it over the veth). The API server itself listens on
// 127.0.0.1 here only: kcr-netns-forward (main.go beside this file) listens on <node ip>:<api
// port> inside the namespace and forwards to it. Traffic never leaves the machine: the namespace
// has no other link.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { buildGoTool } from '../nodes/go-tool.ts';

export const NODE_NETNS = 'kcr-nodes';
const HOST_LINK = 'kcr-h';
const NS_LINK = 'kcr-n';
const SUBNET_PREFIX = '10.213.0.';
export const HOST_SIDE_IP = `${SUBNET_PREFIX}1`;
/** The port kubelets listen on inside the namespace, as on a real node. */
export const KUBELET_PORT = 10250;

const here = dirname(fileURLToPath(import.meta.url));

/** Node i (from 0) gets 10.213.0.<11+i>. */
export function nodeNetworkIp(index: number): string {
  if (index < 0 || index > 200) throw new Error(`node index ${index} out of range 0..200`);
  return `${SUBNET_PREFIX}${11 + index}`;
}

/** Why the node network cannot be made here, or undefined when it can. */
export function nodeNetworkUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'making a network namespace needs root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the ip command (iproute2) is missing';
  }
  return undefined;
}

function ip(args: string[], allowFail = false): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    if (!allowFail) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
      throw new Error(`ip ${args.join(' ')} failed: ${stderr ?? String(err)}`, { cause: err });
    }
  }
}

function nsAddresses(): string[] {
  try {
    const out = execFileSync('ip', ['-n', NODE_NETNS, '-4', '-o', 'addr', 'show', 'dev', NS_LINK]).toString();
    return [...out.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!);
  } catch {
    return [];
  }
}

/** Creates the namespace and link if missing, and the given node addresses in it. Idempotent. */
export function ensureNodeNetwork(nodeIps: string[]): void {
  const why = nodeNetworkUnavailable();
  if (why) throw new Error(`cannot make the simulated nodes' network: ${why}`);
  if (!existsSync(`/var/run/netns/${NODE_NETNS}`)) {
    ip(['link', 'del', HOST_LINK], true);
    ip(['netns', 'add', NODE_NETNS]);
    ip(['link', 'add', HOST_LINK, 'type', 'veth', 'peer', 'name', NS_LINK]);
    ip(['link', 'set', NS_LINK, 'netns', NODE_NETNS]);
    ip(['addr', 'add', `${HOST_SIDE_IP}/24`, 'dev', HOST_LINK]);
    ip(['link', 'set', HOST_LINK, 'up']);
    ip(['-n', NODE_NETNS, 'link', 'set', 'lo', 'up']);
    ip(['-n', NODE_NETNS, 'addr', 'add', `${SUBNET_PREFIX}2/24`, 'dev', NS_LINK]);
    ip(['-n', NODE_NETNS, 'link', 'set', NS_LINK, 'up']);
  }
  const have = new Set(nsAddresses());
  for (const a of nodeIps) {
    if (!a.startsWith(SUBNET_PREFIX)) throw new Error(`node address ${a} is not in ${SUBNET_PREFIX}0/24`);
    if (!have.has(a)) ip(['-n', NODE_NETNS, 'addr', 'add', `${a}/24`, 'dev', NS_LINK]);
  }
}

/** Removes the namespace and its link. Idempotent. */
export function removeNodeNetwork(): void {
  ip(['netns', 'del', NODE_NETNS], true);
  ip(['link', 'del', HOST_LINK], true);
}

/** Builds kcr-netns-forward (cached by the hash of its sources) and returns its path. */
export function buildForwarder(): string {
  return buildGoTool(here, 'kcr-netns-forward');
}

export interface Forwarding {
  /** Address inside the namespace, e.g. 10.213.0.11:10250. */
  listen: string;
  /** Loopback address of the server, e.g. 127.0.0.1:40123. */
  target: string;
}

export interface Forwarder {
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts one forwarder process for all mappings; resolves once it listens. */
export async function startForwarder(mappings: Forwarding[], opts: { detached?: boolean } = {}): Promise<Forwarder> {
  const bin = buildForwarder();
  const child = spawn(
    bin,
    ['-netns', `/var/run/netns/${NODE_NETNS}`, ...mappings.map((m) => `${m.listen}=${m.target}`)],
    { stdio: ['ignore', 'pipe', opts.detached ? 'ignore' : 'inherit'], detached: opts.detached ?? false },
  );
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    child.once('exit', (code) => reject(new Error(`kcr-netns-forward exited with ${code} before it was ready`)));
    lines.once('line', (line) => (line === 'ready' ? resolve() : reject(new Error(`kcr-netns-forward: ${line}`))));
  });
  return {
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
