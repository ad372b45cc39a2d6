// Local Kubernetes nodes: per node, the REAL kubelet (built with the control plane) and a
// container runtime simulator behind its CRI socket (../cri-sim), with a profile that behaves as
// CRI-O or containerd does. Everything above the CRI socket is real Kubernetes.
//
// Each kubelet runs inside the run's node network namespace (../netns/node-network.ts) on its own
// address, port 10250, so the API server's node proxy reaches it as it reaches a real node. It
// reaches the API server through kcr-netns-forward (<node ip>:<api port> in the namespace →
// 127.0.0.1:<api port> here), in a private mount namespace so its volume mounts go with it.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ensureNodeNetwork, NODE_NETNS, nodeNetworkIp, KUBELET_PORT, startForwarder, type Forwarder } from '../netns/node-network.ts';
import { ensureClusterPki, issueKubeletServingCert, nodeKubeconfig, writeSecretFile } from '../pki.ts';
import { logTail } from '../detached-process.ts';
import { buildGoTool } from './go-tool.ts';
import { kubeletConfiguration } from './kubelet-config.ts';
import { nodeControl, type NodeControl } from './node-control.ts';
import { parseNodeProfile, runtimeConfigFiles } from './profiles.ts';

const CRI_SIM_DIR = fileURLToPath(new URL('../cri-sim/', import.meta.url));

/** The kubelet's device plugin folder: hard-coded (k8s.io/kubelet/pkg/apis/deviceplugin DevicePluginPath), not under --root-dir. */
const DEVICE_PLUGIN_DIR = '/var/lib/kubelet/device-plugins';

export interface LocalNode {
  name: string;
  /** InternalIP, inside the node network namespace. */
  ip: string;
  profile: string;
  /** The kubelet's --root-dir. */
  rootDir: string;
  /** Where the kubelet asks the runtime to write checkpoint archives (<root-dir>/checkpoints). */
  checkpointDir: string;
  podLogsDir: string;
  kubeletLog: string;
  runtimeLog: string;
  /** The runtime's configuration files as they would be on the host (what kcr's agent reads for the restore switch). */
  runtimeConfig: { crioConfig: string; crioConfigDir: string; containerdConfig: string };
  control: NodeControl;
}

export interface LocalNodes {
  nodes: LocalNode[];
  node(name: string): LocalNode;
  /** Stops kubelets, runtimes and the forwarder; removes the Node objects unless told not to. */
  stop(opts?: { keepNodeObjects?: boolean }): Promise<void>;
}

export interface StartLocalNodesOptions {
  /** Admin kubeconfig: to wait for Ready and to remove the Nodes on stop. */
  kubeconfig: string;
  pkiDir: string;
  /** Where the kubelet binary is (controlplane/build.sh output). */
  binDir: string;
  /** Node i lives in <dir>/<name>/. */
  dir: string;
  /** One profile per node (see profiles.ts), e.g. ['cri-o-1.34', 'containerd-2.4']. */
  profiles: readonly string[];
  /** Node i (from 1) is <prefix><i>. Default "node-". */
  namePrefix?: string;
  /** First address index in the node network (10.213.0.<11+offset>): keeps concurrent sets apart. */
  netnsIndexOffset?: number;
  /** Extra labels the kubelets register with (--node-labels). */
  labels?: Record<string, string>;
  /** Registries the runtimes speak plain HTTP to (host:port); others on this machine: HTTPS. */
  insecureRegistries?: string[];
  /** CA file the runtimes verify HTTPS registries with. */
  registryCaFile?: string;
  readyTimeoutMs?: number;
  log?: (m: string) => void;
}

interface Proc {
  name: string;
  child: ChildProcess;
}

function spawnLogged(name: string, command: string, args: string[], logFile: string, stdout: 'pipe' | 'log'): Proc {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { stdio: ['ignore', stdout === 'pipe' ? 'pipe' : fd, fd] });
    return { name, child };
  } finally {
    closeSync(fd);
  }
}

function exited(p: Proc): boolean {
  return p.child.exitCode !== null || p.child.signalCode !== null;
}

async function stopProc(p: Proc, graceMs: number): Promise<void> {
  if (exited(p)) return;
  const gone = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** The lines of a kubelet or runtime log that say why it gave up. */
function fatalLines(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => /command failed|failed to run Kubelet|^F\d{4}|"level":"ERROR"/.test(l)).slice(-3).join('\n');
  } catch {
    return '';
  }
}

/** Waits for the simulator's `ready control=<addr>` line. */
async function runtimeReady(p: Proc, logFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: p.child.stdout! });
    const onExit = (code: number | null) => reject(new Error(`${p.name} exited with ${code} before it was ready:\n${logTail(logFile)}`));
    p.child.once('exit', onExit);
    lines.once('line', (line) => {
      p.child.off('exit', onExit);
      const m = /^ready control=(\S+)$/.exec(line);
      if (m) resolve(`http://${m[1]}`);
      else reject(new Error(`${p.name}: unexpected first line ${JSON.stringify(line)}`));
    });
  });
}

/** The API server's port, as the admin kubeconfig names it. */
function apiServer(kubeconfig: string): { url: URL; core: CoreV1Api } {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`${kubeconfig} names no cluster server`);
  return { url: new URL(server), core: kc.makeApiClient(CoreV1Api) };
}

/** The kubelet's kubeconfig: its own client certificate, the API server through the forwarder. */
function kubeletKubeconfig(name: string, server: string, pkiDir: string): string {
  const kc = JSON.parse(nodeKubeconfig(name, server, pkiDir)) as { clusters: { cluster: Record<string, string> }[] };
  // The forwarder's address is not in the API server's certificate; its DNS name is.
  kc.clusters[0]!.cluster['tls-server-name'] = 'kubernetes';
  return JSON.stringify(kc, null, 2);
}

export async function startLocalNodes(opts: StartLocalNodesOptions): Promise<LocalNodes> {
  const log = opts.log ?? (() => {});
  // The kubelet reads paths in its configuration relative to that file: hand it absolute ones.
  opts = { ...opts, dir: resolve(opts.dir), pkiDir: resolve(opts.pkiDir), ...(opts.registryCaFile ? { registryCaFile: resolve(opts.registryCaFile) } : {}) };
  const prefix = opts.namePrefix ?? 'node-';
  const offset = opts.netnsIndexOffset ?? 0;
  for (const p of opts.profiles) parseNodeProfile(p);
  const specs = opts.profiles.map((profile, i) => ({ name: `${prefix}${i + 1}`, ip: nodeNetworkIp(offset + i), profile }));
  const { url, core } = apiServer(opts.kubeconfig);
  const apiPort = Number(url.port);
  ensureNodeNetwork(specs.map((s) => s.ip));
  const pki = ensureClusterPki(opts.pkiDir);
  const simBin = buildGoTool(CRI_SIM_DIR, 'kcr-cri-sim', './cmd/kcr-cri-sim');
  const kubelet = join(opts.binDir, 'kubelet');

  const procs: Proc[] = [];
  const nodes: LocalNode[] = [];
  let forwarder: Forwarder | undefined;
  const stopAll = async (keepNodeObjects = false) => {
    // Kubelets first (they would restart containers of a runtime that is going away).
    await Promise.allSettled(procs.filter((p) => p.name.startsWith('kubelet')).map((p) => stopProc(p, 10_000)));
    await Promise.allSettled(procs.filter((p) => !p.name.startsWith('kubelet')).map((p) => stopProc(p, 5_000)));
    await forwarder?.stop();
    if (!keepNodeObjects) await Promise.allSettled(specs.map((s) => core.deleteNode({ name: s.name })));
  };

  try {
    forwarder = await startForwarder(specs.map((s) => ({ listen: `${s.ip}:${apiPort}`, target: `127.0.0.1:${apiPort}` })));
    const labels = Object.entries(opts.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    await Promise.all(
      specs.map(async (s) => {
        const dir = join(opts.dir, s.name);
        const rootDir = join(dir, 'kubelet');
        const podLogsDir = join(dir, 'pod-logs');
        const files = {
          socket: join(dir, 'runtime.sock'),
          kubeconfig: join(dir, 'kubelet.kubeconfig'),
          config: join(dir, 'kubelet-config.json'),
          cert: join(dir, 'kubelet.crt'),
          key: join(dir, 'kubelet.key'),
          kubeletLog: join(dir, 'kubelet.log'),
          runtimeLog: join(dir, 'runtime.log'),
        };
        mkdirSync(rootDir, { recursive: true });
        mkdirSync(podLogsDir, { recursive: true });
        const containerLogLinks = join(dir, 'container-log-links');
        mkdirSync(containerLogLinks, { recursive: true });
        mkdirSync('/var/log/containers', { recursive: true });
        const devicePlugins = join(dir, 'device-plugins');
        mkdirSync(devicePlugins, { recursive: true });
        mkdirSync(DEVICE_PLUGIN_DIR, { recursive: true });
        // The runtime's configuration on the "host": the restore switch a profile override sets.
        const runtimeConfig = { crioConfig: join(dir, 'etc/crio/crio.conf'), crioConfigDir: join(dir, 'etc/crio/crio.conf.d'), containerdConfig: join(dir, 'etc/containerd/config.toml') };
        for (const [file, text] of Object.entries(runtimeConfigFiles(s.profile, runtimeConfig))) {
          mkdirSync(dirname(file), { recursive: true });
          writeFileSync(file, text);
        }
        const serving = issueKubeletServingCert(s.name, s.ip, opts.pkiDir);
        writeFileSync(files.cert, serving.cert);
        writeSecretFile(files.key, serving.key);
        writeSecretFile(files.kubeconfig, kubeletKubeconfig(s.name, `https://${s.ip}:${apiPort}`, opts.pkiDir));
        const config = kubeletConfiguration({
          address: s.ip,
          port: KUBELET_PORT,
          runtimeEndpoint: `unix://${files.socket}`,
          tlsCertFile: files.cert,
          tlsPrivateKeyFile: files.key,
          clientCaFile: pki.caCert,
          podLogsDir,
        });
        writeFileSync(files.config, JSON.stringify(config, null, 2));

        const sim = spawnLogged(`runtime ${s.name}`, simBin, [
          '--node', s.name,
          '--profile', s.profile,
          '--socket', files.socket,
          '--control', '127.0.0.1:0',
          '--state-dir', join(dir, 'runtime'),
          ...(opts.insecureRegistries?.length ? ['--insecure-registries', opts.insecureRegistries.join(',')] : []),
          ...(opts.registryCaFile ? ['--registry-ca', opts.registryCaFile] : []),
        ], files.runtimeLog, 'pipe');
        procs.push(sim);
        const controlUrl = await runtimeReady(sim, files.runtimeLog);

        // nsenter: the node's network; unshare: a private mount namespace, so the kubelet's
        // bind mount of its root dir and the pods' tmpfs volumes vanish with it, and its
        // /var/log/containers (a path the kubelet hard-codes) is its own, as on a real node:
        // kubelets sharing one would garbage-collect each other's log links. So is its device
        // plugin folder (hard-coded too): kubelets starting at once remove each other's socket
        // there and one fails to start ("bind: address already in use").
        procs.push(spawnLogged(`kubelet ${s.name}`, 'nsenter', [
          `--net=/var/run/netns/${NODE_NETNS}`, '--',
          'unshare', '--mount', '--propagation', 'private', '--',
          'sh', '-c', `mount --bind "$0" /var/log/containers && mount --bind "$1" ${DEVICE_PLUGIN_DIR} && shift && exec "$@"`, containerLogLinks, devicePlugins,
          kubelet,
          `--config=${files.config}`,
          `--kubeconfig=${files.kubeconfig}`,
          `--root-dir=${rootDir}`,
          `--cert-dir=${join(rootDir, 'pki')}`,
          `--hostname-override=${s.name}`,
          `--node-ip=${s.ip}`,
          ...(labels ? [`--node-labels=${labels}`] : []),
          '--v=1',
        ], files.kubeletLog, 'log'));
        nodes.push({
          name: s.name,
          ip: s.ip,
          profile: s.profile,
          rootDir,
          checkpointDir: join(rootDir, 'checkpoints'),
          podLogsDir,
          kubeletLog: files.kubeletLog,
          runtimeLog: files.runtimeLog,
          runtimeConfig,
          control: nodeControl(controlUrl),
        });
      }),
    );
    nodes.sort((a, b) => specs.findIndex((s) => s.name === a.name) - specs.findIndex((s) => s.name === b.name));
    await waitNodesReady(core, nodes, procs, opts.readyTimeoutMs ?? 120_000);
    log(`nodes ${nodes.map((n) => `${n.name} (${n.profile}, ${n.ip})`).join(', ')} Ready`);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    nodes,
    node(name) {
      const n = nodes.find((x) => x.name === name);
      if (!n) throw new Error(`no local node ${name} (have ${nodes.map((x) => x.name).join(', ')})`);
      return n;
    },
    stop: (o) => stopAll(o?.keepNodeObjects ?? false),
  };
}

/** Ready, and the not-ready taint the node lifecycle controller puts on new nodes lifted. */
async function waitNodesReady(core: CoreV1Api, nodes: LocalNode[], procs: Proc[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let waiting: string[] = [];
  while (Date.now() < deadline) {
    const dead = procs.find(exited);
    if (dead) {
      const node = nodes.find((n) => dead.name.endsWith(` ${n.name}`));
      const file = dead.name.startsWith('kubelet') ? node?.kubeletLog : node?.runtimeLog;
      const why = file ? fatalLines(file) : '';
      throw new Error(`${dead.name} exited (${dead.child.exitCode ?? dead.child.signalCode})${why ? `: ${why}` : ''}; last log lines of ${file}:\n${file ? logTail(file) : ''}`);
    }
    waiting = [];
    for (const n of nodes) {
      try {
        const node = await core.readNode({ name: n.name });
        const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        const notReadyTaint = (node.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/not-ready');
        if (!ready || notReadyTaint) waiting.push(n.name);
      } catch {
        waiting.push(n.name);
      }
    }
    if (waiting.length === 0) return;
    await sleep(500);
  }
  const tails = nodes.filter((n) => waiting.includes(n.name)).map((n) => `${n.name} kubelet log:\n${logTail(n.kubeletLog)}`).join('\n');
  throw new Error(`nodes not Ready within ${timeoutMs} ms: ${waiting.join(', ')}\n${tails}`);
}
