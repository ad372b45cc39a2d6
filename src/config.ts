import { isIP } from 'node:net';
import type { RuntimeConfigPaths } from './agent/node-capability.ts';
import type { CheckpointRepositories } from './rules/checkpoint-image-ref.ts';
import { DEFAULT_JOB_RETENTION, type JobRetention } from './queue/job-retention.ts';
import { PULL_SECRET_NAME } from './registry-access/pull-secret-plan.ts';

// Configuration is parsed once, here, from the environment and the command line.
// Each sub-command's composition root calls its parse function and passes the
// result down; nothing else reads process.env.

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type Env = Record<string, string | undefined>;

function str(env: Env, key: string, fallback: string): string {
  const v = env[key];
  return v === undefined || v === '' ? fallback : v;
}

function optional(env: Env, key: string): string | undefined {
  const v = env[key];
  return v === undefined || v === '' ? undefined : v;
}

/** A setting kcr cannot guess: unset or empty is a ConfigError saying what to set. */
function required(env: Env, key: string, what: string): string {
  const v = env[key];
  if (v === undefined || v === '') throw new ConfigError(`${key} is not set: ${what}`);
  return v;
}

function int(env: Env, key: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${key} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function bool(env: Env, key: string, fallback: boolean): boolean {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  if (['true', '1', 'yes'].includes(raw.toLowerCase())) return true;
  if (['false', '0', 'no'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(`${key} must be true or false, got ${JSON.stringify(raw)}`);
}

export interface CommonConfig {
  logLevel: string;
  /** Path to a kubeconfig; unset means in-cluster, then the default kubeconfig. */
  kubeconfig: string | undefined;
  /** KUBERNETES_SERVICE_HOST/PORT, set by the kubelet in every pod: the API server, in a cluster. */
  apiServiceHost: string | undefined;
  apiServicePort: string | undefined;
  /** The namespace kcr runs in: the manifests set it from the pod's own (downward API); kcr-system outside a pod. */
  namespace: string;
}

export function parseCommonConfig(env: Env): CommonConfig {
  return {
    logLevel: str(env, 'KCR_LOG_LEVEL', 'info'),
    kubeconfig: optional(env, 'KUBECONFIG'),
    apiServiceHost: optional(env, 'KUBERNETES_SERVICE_HOST'),
    apiServicePort: optional(env, 'KUBERNETES_SERVICE_PORT'),
    namespace: str(env, 'KCR_NAMESPACE', 'kcr-system'),
  };
}

/** The plain-HTTP Prometheus endpoint every component serves (src/metrics/metrics-server.ts). */
export interface MetricsConfig {
  /** KCR_METRICS_PORT (default 8080; 0: any free port). */
  metricsPort: number;
  /** KCR_METRICS_HOST (default 0.0.0.0). */
  metricsHost: string;
  /** KCR_METRICS_AUTH: 'none' (default) or 'kubernetes' (TokenReview + SubjectAccessReview for GET /metrics). */
  metricsAuth: 'none' | 'kubernetes';
}

export function parseMetricsConfig(env: Env): MetricsConfig {
  return {
    metricsPort: int(env, 'KCR_METRICS_PORT', 8080, 0, 65535),
    metricsHost: str(env, 'KCR_METRICS_HOST', '0.0.0.0'),
    metricsAuth: metricsAuth(env),
  };
}

function metricsAuth(env: Env): 'none' | 'kubernetes' {
  const v = str(env, 'KCR_METRICS_AUTH', 'none');
  if (v !== 'none' && v !== 'kubernetes') throw new ConfigError(`KCR_METRICS_AUTH must be "none" or "kubernetes", got ${JSON.stringify(v)}`);
  return v;
}

/**
 * How long a main loop (controller: lease election, reconcile pass, schedule worker; agent: the
 * queue worker) may go without a heartbeat before /livez fails (KCR_LIVENESS_TIMEOUT_SECONDS).
 */
function livenessTimeoutMs(env: Env): number {
  return int(env, 'KCR_LIVENESS_TIMEOUT_SECONDS', 120, 2, 3600) * 1000;
}

export interface WebhookConfig extends CommonConfig, MetricsConfig {
  port: number;
  host: string;
  /** 'self' (kcr makes and rotates its own CA) or 'files' (cert-manager mounts tls.crt/tls.key). */
  certSource: 'self' | 'files';
  certDir: string;
  secretName: string;
  serviceName: string;
  webhookConfigurationName: string;
  certValidityDays: number;
  /** Largest AdmissionReview body accepted, in bytes; larger gets 413. */
  maxBodyBytes: number;
  /** Admissions handled at once; more get 429 (the pod starts fresh). */
  maxInFlight: number;
  /** PEM file of the CA of the API server's webhook client certificate; set, other clients are refused. */
  clientCaFile: string | undefined;
  /** dockerconfigjson Secret (per namespace) added to restored pods' imagePullSecrets. */
  pullSecretName: string | undefined;
  /** 'token': the Secret is kcr-pull, and a namespace kcr has not given one gets no restore. */
  registryAuth: RegistryAuthMode;
  /** Namespaces the webhook never mutates; default kube-system and kcr's own. */
  excludedNamespaces: string[];
  /**
   * Add the unmounted base-image volume to restored pods (image volumes: GA in Kubernetes 1.36,
   * beta and off by default before 1.35 — a cluster without them rejects such a pod).
   */
  baseImageVolumes: boolean;
  /** How long a claim on a handed-out checkpoint binds when the pod it was made for never appears. */
  claimTtlSeconds: number;
  /** A checkpoint restores only from an image under <registry>/<prefix>/<its namespace>/. */
  checkpointRepositories: CheckpointRepositories;
  /** Longest wait for the API server to write a claim; past it the pod starts fresh. */
  claimTimeoutMs: number;
  /** How long shutdown waits for in-flight admissions before dropping connections. */
  shutdownDeadlineMs: number;
  /**
   * An informer (pods, Checkpoints, …) whose watch is disconnected longer than this makes the
   * webhook not ready and every decision "unchanged" (stale-index) until it reconnects.
   */
  staleIndexSeconds: number;
  /**
   * Extra serving-certificate SANs beyond the Service's DNS names (KCR_WEBHOOK_EXTRA_SANS,
   * comma-separated), split by kind: needed when the API server dials a URL, e.g. 127.0.0.1.
   */
  extraDnsNames: string[];
  extraIpAddresses: string[];
}

function sans(env: Env, key: string): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const item of list(env, key) ?? []) {
    if (isIP(item) !== 0) ipAddresses.push(item);
    else if (/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i.test(item)) dnsNames.push(item);
    else throw new ConfigError(`${key}: ${JSON.stringify(item)} is neither an IP address nor a DNS name`);
  }
  return { dnsNames, ipAddresses };
}

function list(env: Env, key: string): string[] | undefined {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return undefined;
  return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function parseWebhookConfig(env: Env): WebhookConfig {
  const certSource = str(env, 'KCR_WEBHOOK_CERT_SOURCE', 'self');
  if (certSource !== 'self' && certSource !== 'files') {
    throw new ConfigError(`KCR_WEBHOOK_CERT_SOURCE must be "self" or "files", got ${JSON.stringify(certSource)}`);
  }
  const extra = sans(env, 'KCR_WEBHOOK_EXTRA_SANS');
  return {
    ...parseCommonConfig(env),
    ...parseMetricsConfig(env),
    port: int(env, 'KCR_WEBHOOK_PORT', 9443, 1, 65535),
    host: str(env, 'KCR_WEBHOOK_HOST', '0.0.0.0'),
    certSource,
    certDir: str(env, 'KCR_WEBHOOK_CERT_DIR', '/tmp/kcr-webhook-certs'),
    secretName: str(env, 'KCR_WEBHOOK_SECRET', 'kcr-webhook-tls'),
    serviceName: str(env, 'KCR_WEBHOOK_SERVICE', 'kcr-webhook'),
    webhookConfigurationName: str(env, 'KCR_WEBHOOK_CONFIGURATION', 'kcr-restore'),
    certValidityDays: int(env, 'KCR_WEBHOOK_CERT_VALIDITY_DAYS', 365, 1, 3650),
    maxBodyBytes: int(env, 'KCR_WEBHOOK_MAX_BODY_BYTES', 3 * 1024 * 1024, 1024),
    maxInFlight: int(env, 'KCR_WEBHOOK_MAX_IN_FLIGHT', 64, 1, 10_000),
    clientCaFile: optional(env, 'KCR_WEBHOOK_CLIENT_CA'),
    pullSecretName: registryAuthMode(env) === 'token' ? PULL_SECRET_NAME : optional(env, 'KCR_WEBHOOK_PULL_SECRET'),
    registryAuth: registryAuthMode(env),
    excludedNamespaces: list(env, 'KCR_WEBHOOK_EXCLUDED_NAMESPACES') ?? ['kube-system', str(env, 'KCR_NAMESPACE', 'kcr-system')],
    baseImageVolumes: bool(env, 'KCR_WEBHOOK_BASE_IMAGE_VOLUMES', true),
    claimTtlSeconds: int(env, 'KCR_WEBHOOK_CLAIM_TTL_SECONDS', 120, 5, 3600),
    checkpointRepositories: parseCheckpointRepositories(env),
    // Below the webhook configuration's 3 s timeout, so the API server still gets an answer.
    claimTimeoutMs: int(env, 'KCR_WEBHOOK_CLAIM_TIMEOUT_MS', 1000, 50, 2500),
    shutdownDeadlineMs: int(env, 'KCR_WEBHOOK_SHUTDOWN_DEADLINE_MS', 10_000, 0, 120_000),
    staleIndexSeconds: int(env, 'KCR_WEBHOOK_STALE_INDEX_SECONDS', 30, 5, 3600),
    extraDnsNames: extra.dnsNames,
    extraIpAddresses: extra.ipAddresses,
  };
}

export interface AgentConfig extends CommonConfig, MetricsConfig {
  /** The node this agent runs on (NODE_NAME from the downward API): it works that node's queue. */
  nodeName: string;
  /** redis:// or rediss://, without a password (KCR_REDIS_URL). */
  redisUrl: string;
  /** Mounted file holding Redis' password (the Secret kcr-redis, key password); read at start. */
  redisPasswordFile: string | undefined;
  /** PEM CA that Redis' TLS certificate is checked against (rediss:// only); default the system's. */
  redisCaFile: string | undefined;
  /** Caps on finished jobs the agent's worker applies to jobs that carry none. */
  jobRetention: JobRetention;
  /** BullMQ key prefix, shared with the controller. */
  queuePrefix: string;
  /** Checkpoints taken at once on this node (each freezes a container). */
  concurrency: number;
  /** Where the node's /var/lib/kubelet/checkpoints is mounted. */
  checkpointDir: string;
  healthPort: number;
  healthHost: string;
  /** The registry checkpoint images go to (KCR_REGISTRY, KCR_INSECURE_REGISTRIES, …). */
  images: ImageStoreConfig;
  /** dockerconfigjson Secret in kcr's namespace read for registry credentials (unless images.authFile). */
  registrySecretName: string;
  /** Newest archives kept per container on the node once pushed; older ones are deleted. */
  keepArchives: number;
  /**
   * How the agent reaches its node's kubelet: 'direct' (its own address, the agent's token; RBAC
   * nodes/checkpoint only) or 'proxy' (the API server's node proxy; needs nodes/proxy).
   */
  kubeletAccess: 'direct' | 'proxy';
  /** PEM the kubelet's serving certificate is checked against (direct); unset or absent: the cluster's CA. */
  kubeletCaFile: string | undefined;
  /** How long SIGTERM waits for running jobs; below the DaemonSet's grace period (60 s). */
  shutdownDeadlineMs: number;
  /** The node's runtime configuration files (host paths mounted read-only), for its restore capability. */
  runtimeConfig: RuntimeConfigPaths;
  /** How often the node's restore capability is worked out again and published. */
  capabilityIntervalMs: number;
  /** /livez fails once the queue worker's loop has not beaten for this long. */
  livenessTimeoutMs: number;
}

export function parseAgentConfig(env: Env): AgentConfig {
  const need = (key: string, what: string): string => {
    const v = optional(env, key);
    if (v === undefined) throw new ConfigError(`${key} must be set (${what})`);
    return v;
  };
  return {
    ...parseCommonConfig(env),
    ...parseMetricsConfig(env),
    nodeName: need('NODE_NAME', 'the node this agent runs on; the DaemonSet sets it from spec.nodeName'),
    ...parseRedisAccess(env, need('KCR_REDIS_URL', 'redis://host:port of the queue')),
    jobRetention: parseJobRetention(env),
    queuePrefix: str(env, 'KCR_QUEUE_PREFIX', 'kcr'),
    concurrency: int(env, 'KCR_AGENT_CONCURRENCY', 2, 1, 64),
    checkpointDir: str(env, 'KCR_CHECKPOINT_DIR', '/var/lib/kubelet/checkpoints'),
    healthPort: int(env, 'KCR_HEALTH_PORT', 8081, 0, 65535),
    healthHost: str(env, 'KCR_HEALTH_HOST', '0.0.0.0'),
    images: parseImageStoreConfig(env),
    registrySecretName: str(env, 'KCR_REGISTRY_SECRET', 'kcr-registry'),
    keepArchives: int(env, 'KCR_KEEP_ARCHIVES', 1, 0, 1000),
    kubeletAccess: kubeletAccess(env),
    kubeletCaFile: optional(env, 'KCR_KUBELET_CA'),
    shutdownDeadlineMs: int(env, 'KCR_AGENT_SHUTDOWN_DEADLINE_MS', 45_000, 0, 600_000),
    runtimeConfig: {
      crioConfig: str(env, 'KCR_CRIO_CONFIG', '/etc/crio/crio.conf'),
      crioConfigDir: str(env, 'KCR_CRIO_CONFIG_DIR', '/etc/crio/crio.conf.d'),
      containerdConfig: str(env, 'KCR_CONTAINERD_CONFIG', '/etc/containerd/config.toml'),
    },
    capabilityIntervalMs: int(env, 'KCR_CAPABILITY_INTERVAL_SECONDS', 300, 10, 86_400) * 1000,
    livenessTimeoutMs: livenessTimeoutMs(env),
  };
}

export const parse = { int, bool, str, optional, list };

/**
 * How kcr's checkpoint images are protected at the registry: 'token' (kcr's token service
 * issues per-namespace pull-only access; kcr-pull Secrets) or 'static' (one Secret the
 * administrator provides: it does not isolate namespaces from each other).
 */
export type RegistryAuthMode = 'token' | 'static';

function registryAuthMode(env: Env): RegistryAuthMode {
  const v = str(env, 'KCR_REGISTRY_AUTH', 'static');
  if (v !== 'token' && v !== 'static') throw new ConfigError(`KCR_REGISTRY_AUTH must be "token" or "static", got ${JSON.stringify(v)}`);
  return v;
}

/** Period after which each namespace's pull credential is replaced (the previous one stays valid one more period). */
function pullCredentialRotationSeconds(env: Env): number {
  return int(env, 'KCR_PULL_CREDENTIAL_ROTATION_SECONDS', 86_400, 60, 30 * 86_400);
}

export interface TokenServiceConfig extends CommonConfig {
  host: string;
  port: number;
  /** Where the kcr-registry-token Secret is mounted (tls.crt, tls.key, credential-key). */
  keyDir: string;
  /** The registry's auth.token.issuer and auth.token.service. */
  issuer: string;
  service: string;
  ttlSeconds: number;
  rotationSeconds: number;
  prefix: string;
  /** Serve HTTPS with these files (PEM); unset: plain HTTP. */
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
}

export function parseTokenServiceConfig(env: Env): TokenServiceConfig {
  const tlsCertFile = optional(env, 'KCR_TOKEN_TLS_CERT');
  const tlsKeyFile = optional(env, 'KCR_TOKEN_TLS_KEY');
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) throw new ConfigError('KCR_TOKEN_TLS_CERT and KCR_TOKEN_TLS_KEY go together');
  return {
    ...parseCommonConfig(env),
    host: str(env, 'KCR_TOKEN_HOST', '0.0.0.0'),
    port: int(env, 'KCR_TOKEN_PORT', 5001, 0, 65535),
    keyDir: str(env, 'KCR_TOKEN_KEY_DIR', '/etc/kcr/registry-token'),
    issuer: str(env, 'KCR_TOKEN_ISSUER', 'kcr-token-service'),
    service: str(env, 'KCR_TOKEN_SERVICE', 'kcr-registry'),
    ttlSeconds: int(env, 'KCR_TOKEN_TTL_SECONDS', 300, 30, 3600),
    rotationSeconds: pullCredentialRotationSeconds(env),
    prefix: repositoryPrefix(env),
    tlsCertFile,
    tlsKeyFile,
  };
}

/** Where checkpoint images go (agent pushes, controller deletes). Files are read by the caller. */
export interface ImageStoreConfig {
  /** host[:port] of the registry. */
  registry: string;
  /** Repository prefix: <registry>/<prefix>/<namespace>/<identity>. */
  repositoryPrefix: string;
  /** Comma-separated: `host:port` (HTTPS, unverified) or `http://host:port` (plain HTTP). */
  insecureRegistries: string;
  /** Mounted `.dockerconfigjson` of the registry Secret; never passed in env values or args. */
  authFile: string | undefined;
  /** Extra CA bundle (PEM) to trust for the registry. */
  caFile: string | undefined;
  layerCompression: 'none' | 'gzip';
}

/** Where checkpoint images live (KCR_REGISTRY, KCR_REGISTRY_PREFIX): the agent pushes there, the rest restore and delete only there. */
export function parseCheckpointRepositories(env: Env): CheckpointRepositories {
  return {
    registry: required(env, 'KCR_REGISTRY', "the registry's host[:port] for checkpoint images, one the nodes' container runtime resolves and trusts (kcr ships no registry; see the README's \"The registry\")"),
    prefix: repositoryPrefix(env),
  };
}

function repositoryPrefix(env: Env): string {
  return str(env, 'KCR_REGISTRY_PREFIX', 'kcr');
}

function kubeletAccess(env: Env): 'direct' | 'proxy' {
  const v = str(env, 'KCR_KUBELET_ACCESS', 'direct');
  if (v !== 'direct' && v !== 'proxy') throw new ConfigError(`KCR_KUBELET_ACCESS must be "direct" or "proxy", got ${JSON.stringify(v)}`);
  return v;
}

export function parseImageStoreConfig(env: Env): ImageStoreConfig {
  const compression = str(env, 'KCR_LAYER_COMPRESSION', 'none');
  if (compression !== 'none' && compression !== 'gzip') {
    throw new ConfigError(`KCR_LAYER_COMPRESSION must be "none" or "gzip", got ${JSON.stringify(compression)}`);
  }
  const repositories = parseCheckpointRepositories(env);
  return {
    registry: repositories.registry,
    repositoryPrefix: repositories.prefix,
    insecureRegistries: str(env, 'KCR_INSECURE_REGISTRIES', ''),
    authFile: optional(env, 'KCR_REGISTRY_AUTH_FILE'),
    caFile: optional(env, 'KCR_REGISTRY_CA_FILE'),
    layerCompression: compression,
  };
}

export interface ControllerConfig extends CommonConfig, MetricsConfig {
  /** redis://host:port[/db] or rediss://…, without a password (KCR_REDIS_URL). */
  redisUrl: string;
  /** Mounted file holding Redis' password (the Secret kcr-redis, key password); read at start. */
  redisPasswordFile: string | undefined;
  /** PEM CA that Redis' TLS certificate is checked against (rediss:// only); default the system's. */
  redisCaFile: string | undefined;
  /** Caps on the finished jobs kept in Redis (KCR_JOBS_KEEP_*), so Redis never fills up. */
  jobRetention: JobRetention;
  /** BullMQ prefix of every kcr queue (KCR_QUEUE_PREFIX). */
  queuePrefix: string;
  /** Lease holder identity (KCR_POD_NAME; the hostname outside a pod). */
  podName: string;
  leaseName: string;
  leaseDurationSeconds: number;
  leaseRenewDeadlineMs: number;
  leaseRetryPeriodMs: number;
  healthHost: string;
  healthPort: number;
  /** How often the leader re-runs its reconcile pass even without changes (Redis loss is noticed then). */
  resyncMs: number;
  retentionIntervalMs: number;
  /** ttlSecondsAfterFinished of the requests kcr creates, and for users' requests without one. */
  requestTtlSeconds: number;
  /** An unfinished CheckpointRequest fails this long past its spec.timeoutSeconds. */
  requestStuckMarginSeconds: number;
  /** A CheckpointRequest whose node, agent or job is gone fails once it looked so this long. */
  requestLostGraceSeconds: number;
  /** dockerconfigjson Secret in kcr's namespace with the registry credentials (retention deletes images). */
  registrySecretName: string;
  /** Checkpoint images restore in place, and are deleted, only from under <registry>/<prefix>/<their namespace>/. */
  checkpointRepositories: CheckpointRepositories;
  /** `host:port` (HTTPS without verification) or `http://host:port` entries (KCR_INSECURE_REGISTRIES). */
  insecureRegistries: string;
  shutdownDeadlineMs: number;
  /** Only these namespaces are reconciled (KCR_CONTROLLER_NAMESPACES, comma-separated); undefined: all. */
  watchNamespaces: string[] | undefined;
  /** A RestoreRequest not finished this long after it started fails. */
  restoreTimeoutSeconds: number;
  /** A restored container waiting this long on pulling its checkpoint image starts fresh instead (the checkpoint stays good). */
  restorePullTimeoutSeconds: number;
  /** In-place restores after crashes: at most this many per container within the window. */
  inPlaceRestoreMax: number;
  inPlaceRestoreWindowSeconds: number;
  /** 'token': kcr keeps kcr-pull Secrets per namespace and its writer Secret (see RegistryAuthMode). */
  registryAuth: RegistryAuthMode;
  pullCredentialRotationSeconds: number;
  /** How often every kcr-pull Secret is read back and rewritten if someone changed it. */
  pullSecretVerifyMs: number;
  /** How often the registry is swept for manifests no Checkpoint refers to (0: never). */
  registrySweepIntervalMs: number;
  /** How long a manifest must stay unreferenced before the sweep deletes it. */
  registrySweepGraceMs: number;
  /** /livez fails once a main loop (lease election; when leading, reconcile pass and schedule worker) has not beaten for this long. */
  livenessTimeoutMs: number;
  /** How often the node queues' job counts are read for kcr_queue_jobs, at most (scrapes in between get the last read). */
  queueMetricsIntervalMs: number;
}

export function parseControllerConfig(env: Env): ControllerConfig {
  const leaseDurationSeconds = int(env, 'KCR_LEASE_DURATION_SECONDS', 15, 2, 3600);
  const renew = int(env, 'KCR_LEASE_RENEW_DEADLINE_MS', Math.round(leaseDurationSeconds * 1000 * (2 / 3)), 100, 3_600_000);
  if (renew >= leaseDurationSeconds * 1000) {
    throw new ConfigError('KCR_LEASE_RENEW_DEADLINE_MS must be shorter than KCR_LEASE_DURATION_SECONDS, or two leaders could overlap');
  }
  return {
    ...parseCommonConfig(env),
    ...parseMetricsConfig(env),
    ...parseRedisAccess(env, str(env, 'KCR_REDIS_URL', 'redis://127.0.0.1:6379')),
    jobRetention: parseJobRetention(env),
    queuePrefix: str(env, 'KCR_QUEUE_PREFIX', 'kcr'),
    podName: str(env, 'KCR_POD_NAME', str(env, 'HOSTNAME', `kcr-controller-${process.pid}`)),
    leaseName: str(env, 'KCR_LEASE_NAME', 'kcr-controller'),
    leaseDurationSeconds,
    leaseRenewDeadlineMs: renew,
    leaseRetryPeriodMs: int(env, 'KCR_LEASE_RETRY_PERIOD_MS', Math.min(5000, Math.round(renew / 2)), 50, 600_000),
    healthHost: str(env, 'KCR_HEALTH_HOST', '0.0.0.0'),
    healthPort: int(env, 'KCR_HEALTH_PORT', 8081, 0, 65535),
    resyncMs: int(env, 'KCR_CONTROLLER_RESYNC_MS', 5000, 100, 600_000),
    retentionIntervalMs: int(env, 'KCR_RETENTION_INTERVAL_MS', 30_000, 100, 86_400_000),
    requestTtlSeconds: int(env, 'KCR_REQUEST_TTL_SECONDS', 3600, 0, 365 * 86_400),
    requestStuckMarginSeconds: int(env, 'KCR_REQUEST_STUCK_MARGIN_SECONDS', 300, 0, 86_400),
    requestLostGraceSeconds: int(env, 'KCR_REQUEST_LOST_GRACE_SECONDS', 120, 0, 86_400),
    registrySecretName: str(env, 'KCR_REGISTRY_SECRET', 'kcr-registry'),
    checkpointRepositories: parseCheckpointRepositories(env),
    insecureRegistries: str(env, 'KCR_INSECURE_REGISTRIES', ''),
    shutdownDeadlineMs: int(env, 'KCR_CONTROLLER_SHUTDOWN_DEADLINE_MS', 20_000, 0, 120_000),
    watchNamespaces: list(env, 'KCR_CONTROLLER_NAMESPACES'),
    restoreTimeoutSeconds: int(env, 'KCR_RESTORE_TIMEOUT_SECONDS', 300, 10, 86_400),
    restorePullTimeoutSeconds: int(env, 'KCR_RESTORE_PULL_TIMEOUT_SECONDS', 120, 5, 86_400),
    inPlaceRestoreMax: int(env, 'KCR_INPLACE_RESTORE_MAX', 3, 0, 100),
    inPlaceRestoreWindowSeconds: int(env, 'KCR_INPLACE_RESTORE_WINDOW_SECONDS', 600, 1, 86_400),
    registryAuth: registryAuthMode(env),
    pullCredentialRotationSeconds: pullCredentialRotationSeconds(env),
    pullSecretVerifyMs: int(env, 'KCR_PULL_SECRET_VERIFY_SECONDS', 600, 5, 86_400) * 1000,
    registrySweepIntervalMs: int(env, 'KCR_REGISTRY_SWEEP_INTERVAL_SECONDS', 3600, 0, 7 * 86_400) * 1000,
    registrySweepGraceMs: int(env, 'KCR_REGISTRY_SWEEP_GRACE_SECONDS', 3600, 0, 30 * 86_400) * 1000,
    livenessTimeoutMs: livenessTimeoutMs(env),
    queueMetricsIntervalMs: int(env, 'KCR_QUEUE_METRICS_INTERVAL_SECONDS', 15, 1, 3600) * 1000,
  };
}

/**
 * Where Redis is and how to prove who we are: the URL names the server only; the password comes
 * from a mounted Secret file (never the URL, an env value or an argument, where it would show
 * in `kubectl describe`, /proc and crash reports); TLS with rediss://, optionally a private CA.
 */
function parseRedisAccess(env: Env, url: string): { redisUrl: string; redisPasswordFile: string | undefined; redisCaFile: string | undefined } {
  const masked = JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'));
  if (!/^rediss?:\/\//.test(url)) throw new ConfigError(`KCR_REDIS_URL must start with redis:// or rediss://, got ${masked}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`KCR_REDIS_URL is not a URL: ${masked}`);
  }
  if (parsed.password !== '') {
    throw new ConfigError('KCR_REDIS_URL must not carry a password (it would sit in the environment in clear): put it in a file named by KCR_REDIS_PASSWORD_FILE (the Secret kcr-redis, key password)');
  }
  if (optional(env, 'KCR_REDIS_PASSWORD') !== undefined) {
    throw new ConfigError('KCR_REDIS_PASSWORD is not read: kcr takes Redis\' password only from a file, KCR_REDIS_PASSWORD_FILE (the mounted Secret kcr-redis, key password)');
  }
  const caFile = optional(env, 'KCR_REDIS_CA_FILE');
  if (caFile !== undefined && parsed.protocol !== 'rediss:') {
    throw new ConfigError(`KCR_REDIS_CA_FILE is set but KCR_REDIS_URL is not rediss:// (TLS), got ${masked}`);
  }
  return { redisUrl: url, redisPasswordFile: optional(env, 'KCR_REDIS_PASSWORD_FILE'), redisCaFile: caFile };
}

/** Caps on finished BullMQ jobs and event streams (src/queue/job-retention.ts), per queue. */
export function parseJobRetention(env: Env): JobRetention {
  const d = DEFAULT_JOB_RETENTION;
  return {
    completed: {
      count: int(env, 'KCR_JOBS_KEEP_COMPLETED', d.completed.count, 0, 1_000_000),
      ageSeconds: int(env, 'KCR_JOBS_KEEP_COMPLETED_SECONDS', d.completed.ageSeconds, 1, 30 * 86_400),
    },
    failed: {
      count: int(env, 'KCR_JOBS_KEEP_FAILED', d.failed.count, 0, 1_000_000),
      ageSeconds: int(env, 'KCR_JOBS_KEEP_FAILED_SECONDS', d.failed.ageSeconds, 1, 30 * 86_400),
    },
    eventsMaxLen: int(env, 'KCR_JOBS_EVENTS_MAX_LEN', d.eventsMaxLen, 10, 1_000_000),
  };
}
