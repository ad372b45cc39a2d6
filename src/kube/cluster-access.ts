// How kcr's own HTTP calls reach the API server: the current cluster's URL and, per request, its
// TLS settings and credentials. client-node's KubeConfig has this shape, so the agent and the
// controller (which also use its typed clients) pass theirs; the webhook loads a kubeconfig with
// loadClusterAccess below and never imports client-node, whose generated API alone costs a
// process ~80 MiB (issue 13). Loading does I/O; what to load is decided by the caller's config.
import { readFileSync, statSync } from 'node:fs';
import type https from 'node:https';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { load as parseYaml } from 'js-yaml';

export interface ClusterAccess {
  getCurrentCluster(): { server: string } | null;
  /** Adds the CA, client certificate and Authorization header this request needs. */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A projected token is rotated in place by the kubelet (about hourly): re-read it this often. */
const TOKEN_REREAD_MS = 60_000;

interface Credentials {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure?: boolean;
  servername?: string;
  token?: string;
  tokenFile?: string;
  basic?: string;
}

/** A kubeconfig user kcr's loader does not handle (exec plugins, auth providers): client-node does. */
export class UnsupportedKubeconfig extends Error {}

class StaticClusterAccess implements ClusterAccess {
  #token: { value: string; readAt: number } | undefined;
  readonly creds: Credentials;
  readonly now: () => number;

  constructor(creds: Credentials, now: () => number = Date.now) {
    this.creds = creds;
    this.now = now;
  }

  getCurrentCluster(): { server: string } {
    return { server: this.creds.server };
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const c = this.creds;
    if (c.ca) opts.ca = c.ca;
    if (c.cert) opts.cert = c.cert;
    if (c.key) opts.key = c.key;
    if (c.insecure) opts.rejectUnauthorized = false;
    if (c.servername) opts.servername = c.servername;
    // Basic auth as client-node sends it: node:http makes the Authorization header from `auth`.
    if (c.basic !== undefined) opts.auth = c.basic;
    const authorization = this.#bearer();
    if (authorization !== undefined) opts.headers = { ...(opts.headers as Record<string, string> | undefined), Authorization: authorization };
  }

  #bearer(): string | undefined {
    const { token, tokenFile, basic } = this.creds;
    if (basic !== undefined) return undefined;
    if (tokenFile === undefined) return token === undefined ? undefined : `Bearer ${token}`;
    if (this.#token === undefined || this.now() - this.#token.readAt >= TOKEN_REREAD_MS) {
      this.#token = { value: readFileSync(tokenFile, 'utf8').trim(), readAt: this.now() };
    }
    return `Bearer ${this.#token.value}`;
  }
}

type Entry = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function named(list: unknown, name: string | undefined, what: string): Entry {
  const found = Array.isArray(list) ? list.find((e: Entry) => e?.name === name) as Entry | undefined : undefined;
  if (!found) throw new Error(`${what} ${JSON.stringify(name)} is not in the kubeconfig`);
  return found;
}

/** Parses one kubeconfig (YAML or JSON); relative paths in it are relative to `file`'s folder. */
export function credentialsFromKubeconfig(text: string, file: string): Credentials {
  const doc = parseYaml(text) as Entry | undefined;
  if (!doc || typeof doc !== 'object') throw new Error(`kubeconfig ${file} is empty or not a mapping`);
  const contextName = str(doc['current-context']);
  if (contextName === undefined) throw new Error(`kubeconfig ${file} has no current cluster (no current-context)`);
  const context = named(doc.contexts, contextName, 'context').context as Entry | undefined;
  const cluster = named(doc.clusters, str(context?.cluster), 'cluster').cluster as Entry | undefined;
  const userName = str(context?.user);
  const user = (userName === undefined ? {} : (named(doc.users, userName, 'user').user ?? {})) as Entry;
  const server = str(cluster?.server);
  if (server === undefined) throw new Error(`kubeconfig ${file} has no current cluster (its cluster has no server)`);
  if (user.exec !== undefined || user['auth-provider'] !== undefined) throw new UnsupportedKubeconfig(`kubeconfig ${file}: exec and auth-provider users`);
  const path = (p: string) => (isAbsolute(p) ? p : join(dirname(file), p));
  const bytes = (data: unknown, ref: unknown): Buffer | undefined => {
    if (str(data) !== undefined) return Buffer.from(data as string, 'base64');
    return str(ref) === undefined ? undefined : readFileSync(path(ref as string));
  };
  const username = str(user.username);
  return {
    server,
    ca: bytes(cluster?.['certificate-authority-data'], cluster?.['certificate-authority']),
    cert: bytes(user['client-certificate-data'], user['client-certificate']),
    key: bytes(user['client-key-data'], user['client-key']),
    insecure: cluster?.['insecure-skip-tls-verify'] === true,
    servername: str(cluster?.['tls-server-name']),
    token: str(user.token),
    tokenFile: str(user.token) === undefined && str(user.tokenFile) !== undefined ? path(user.tokenFile as string) : undefined,
    basic: username === undefined ? undefined : `${username}:${str(user.password) ?? ''}`,
  };
}

/** The pod's service account, as client-node's loadFromCluster reads it (the token is re-read as it rotates). */
export function inClusterCredentials(env: { host: string | undefined; port: string | undefined }, dir = SERVICE_ACCOUNT_DIR): Credentials {
  if (env.host === undefined || env.port === undefined) throw new Error('in a pod without KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT: cannot find the API server');
  const scheme = ['80', '8080', '8001'].includes(env.port) ? 'http' : 'https';
  const host = env.host.includes(':') ? `[${env.host}]` : env.host;
  return { server: `${scheme}://${host}:${env.port}`, ca: readFileSync(join(dir, 'ca.crt')), tokenFile: join(dir, 'token') };
}

export interface ClusterAccessSource {
  /** A kubeconfig path (config.kubeconfig); KUBECONFIG with several paths is handed to client-node. */
  kubeconfig: string | undefined;
  /** KUBERNETES_SERVICE_HOST/PORT, read by the caller's config. */
  apiServiceHost?: string | undefined;
  apiServicePort?: string | undefined;
  /** Where a mounted service account lives; injectable for tests. */
  serviceAccountDir?: string;
  /** When the token file was last read is measured on this clock (tests). */
  now?: () => number;
}

const isFile = (p: string) => statSync(p, { throwIfNoEntry: false })?.isFile() === true;

/**
 * An explicit kubeconfig file, else the pod's service account when running in a cluster, else
 * ~/.kube/config: the same order as loadKubeConfig. A kubeconfig kcr cannot read itself (exec,
 * auth providers, several files) is loaded by client-node, imported only then.
 */
export async function loadClusterAccess(source: ClusterAccessSource): Promise<ClusterAccess> {
  const dir = source.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  let file = source.kubeconfig;
  if (file === undefined) {
    if (isFile(join(dir, 'token'))) return new StaticClusterAccess(inClusterCredentials({ host: source.apiServiceHost, port: source.apiServicePort }, dir), source.now);
    file = join(homedir(), '.kube', 'config');
  }
  if (!file.includes(':') || isFile(file)) {
    try {
      return new StaticClusterAccess(credentialsFromKubeconfig(readFileSync(file, 'utf8'), file), source.now);
    } catch (err) {
      if (!(err instanceof UnsupportedKubeconfig)) throw err;
    }
  }
  const { loadKubeConfig } = await import('./config.ts');
  return loadKubeConfig({ kubeconfig: source.kubeconfig, inCluster: false });
}
