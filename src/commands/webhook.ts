// Composition root of `kcr webhook`: config -> logger -> kube clients -> index and
// informers -> serving certificate -> HTTPS server; graceful shutdown on signals.
// startWebhook() is the part without the cluster and the process, so tests run
// exactly what this command runs with fake informer sources.
import { readFileSync } from 'node:fs';
import type https from 'node:https';
import { pino } from 'pino';
import {
  CertificateFileWatcher,
  CertificateRotator,
  attachHotReload,
  ensureServingCertificate,
  kubeCaBundleTarget,
  kubeSecretStore,
  publishCaBundle,
  type ServingCertificateSource,
  type ServingKeyPair,
} from '../../certs/index.ts';
import { GROUP, PLURALS, VERSION } from '../api/types.ts';
import { kubeJson } from '../kube/kube-json.ts';
import { kubeClaimApi, type ClaimApi } from '../../webhooks/checkpoint-claims.ts';
import { decide as restoreDecision, type Decision, type DecisionInput } from '../../webhooks/decision.ts';
import { DEFAULT_STALE_AFTER_MS, InformerSet, kubeIndexFeeds, type Backoff, type IndexFeed } from '../../webhooks/informers.ts';
import { createWebhookMetrics, type WebhookMetrics } from '../../webhooks/metrics.ts';
import { RestoreIndex } from '../../webhooks/restore-index.ts';
import { closeWebhookServer, createWebhookApp, startWebhookServer } from '../../webhooks/server.ts';
import { boundPort } from '../net/listen.ts';
import { startMetricsServer, type MetricsServer, type MetricsServerOptions } from '../metrics/metrics-server.ts';
import { metricsAuthorizer } from '../metrics/metrics-auth.ts';
import { parseWebhookConfig, type Env, type WebhookConfig } from '../config.ts';
import { loadClusterAccess, type ClusterAccess } from '../kube/cluster-access.ts';
import { createLogger, type Logger } from '../log.ts';

export type WebhookServingConfig = Pick<
  WebhookConfig,
  'host' | 'port' | 'maxBodyBytes' | 'maxInFlight' | 'pullSecretName' | 'registryAuth' | 'excludedNamespaces' | 'baseImageVolumes' | 'claimTtlSeconds' | 'checkpointRepositories'
> & Partial<Pick<WebhookConfig, 'staleIndexSeconds'>>;

export interface StartWebhookOptions {
  config: WebhookServingConfig;
  /** Informer sources feeding the index (kubeIndexFeeds in a cluster, fakes in tests). */
  feeds: IndexFeed[];
  tls: ServingKeyPair;
  logger: Logger;
  /** Where claims on handed-out checkpoints are written (the API server in a cluster). */
  claims: ClaimApi;
  /** PEM of the CA of the API server's client certificate: set, every other client is refused. */
  clientCa?: string | undefined;
  clock?: () => Date;
  backoff?: Backoff;
  /** Replaceable for benchmarks of the adapter alone; defaults to the restore decision. */
  decide?: (input: DecisionInput) => Decision;
  /** Process metrics in /metrics (default true; tests that build many servers turn them off). */
  defaultMetrics?: boolean;
  /** Where the plain-HTTP /metrics listens (KCR_METRICS_HOST/PORT); none: only the HTTPS /metrics. */
  metricsListen?: { host: string; port: number } & Pick<MetricsServerOptions, 'authorize'>;
}

export interface RunningWebhook {
  server: https.Server;
  port: number;
  index: RestoreIndex;
  informers: InformerSet;
  metrics: WebhookMetrics;
  /** The plain-HTTP metrics server, when metricsListen was given. */
  metricsServer: MetricsServer | undefined;
  /**
   * Turns /readyz 503 and keeps answering for drainMs (the Service drops this endpoint
   * meanwhile, so the API server stops calling), then stops the informers and closes the
   * server, dropping what is still open after deadlineMs.
   */
  close(deadlineMs: number, drainMs?: number): Promise<void>;
}

/** Index, informers, metrics, app and HTTPS listener: everything but the cluster and the process. */
export async function startWebhook(opts: StartWebhookOptions): Promise<RunningWebhook> {
  const { config, logger } = opts;
  const index = new RestoreIndex();
  const clock = opts.clock ?? (() => new Date());
  const informers = new InformerSet({
    feeds: opts.feeds, index, logger, now: clock, staleAfterMs: (config.staleIndexSeconds ?? DEFAULT_STALE_AFTER_MS / 1000) * 1000,
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
  });
  let draining = false;
  const metrics = createWebhookMetrics({
    indexSizes: () => index.sizes(),
    ready: () => !draining && informers.synced() && informers.stale().length === 0,
    defaultMetrics: opts.defaultMetrics ?? true,
  });
  const app = createWebhookApp({
    index,
    decide: opts.decide ?? restoreDecision,
    metrics,
    logger,
    clock,
    policy: {
      excludedNamespaces: config.excludedNamespaces,
      baseImageVolumes: config.baseImageVolumes,
      repositories: config.checkpointRepositories,
      ...(config.pullSecretName !== undefined ? { pullSecretName: config.pullSecretName } : {}),
      requirePullSecret: config.registryAuth === 'token',
    },
    readiness: informers,
    draining: () => draining,
    maxBodyBytes: config.maxBodyBytes,
    maxInFlight: config.maxInFlight,
    claims: opts.claims,
    claimTtlMs: config.claimTtlSeconds * 1000,
  });
  informers.start();
  let server: https.Server;
  try {
    server = await startWebhookServer({ app, tls: opts.tls, host: config.host, port: config.port, clientCa: opts.clientCa });
  } catch (err) {
    await informers.stop();
    throw err;
  }
  const port = boundPort(server);
  let metricsServer: MetricsServer | undefined;
  if (opts.metricsListen) {
    try {
      metricsServer = await startMetricsServer({
        registry: metrics.registry,
        ...opts.metricsListen,
        onError: (err) => logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'metrics scrape failed'),
      });
    } catch (err) {
      await informers.stop();
      await closeWebhookServer(server, 0);
      throw err;
    }
  }
  logger.info({ host: config.host, port, metricsPort: metricsServer?.port }, 'webhook listening (HTTPS)');
  return {
    server,
    port,
    index,
    informers,
    metrics,
    metricsServer,
    async close(deadlineMs, drainMs = 0) {
      draining = true;
      if (drainMs > 0) await new Promise((resolve) => setTimeout(resolve, drainMs));
      await informers.stop();
      await closeWebhookServer(server, deadlineMs);
      // Last: Prometheus sees the drain in the counters until the end.
      await metricsServer?.close();
    },
  };
}

interface CertificateSourceHandle {
  tls: ServingKeyPair;
  source: ServingCertificateSource;
  stop(): void;
}

/** 'self': kcr's own CA in a Secret, rotated, caBundle published. 'files': cert-manager's mounted pair. */
async function servingCertificate(config: WebhookConfig, kc: ClusterAccess, logger: Logger): Promise<CertificateSourceHandle> {
  if (config.certSource === 'files') {
    const watcher = await CertificateFileWatcher.start({ certDir: config.certDir, log: logger });
    return { tls: watcher.current, source: watcher, stop: () => watcher.stop() };
  }
  const now = () => new Date();
  const api = kubeJson(kc);
  const secrets = kubeSecretStore(api);
  const target = kubeCaBundleTarget(api);
  const rotator = new CertificateRotator({
    ensure: async () => (await ensureServingCertificate({ secrets, now, log: logger }, {
      namespace: config.namespace,
      secretName: config.secretName,
      serviceName: config.serviceName,
      validityDays: config.certValidityDays,
      extraDnsNames: config.extraDnsNames,
      ipAddresses: config.extraIpAddresses,
    })).bundle,
    publishCa: (caCert) => publishCaBundle({ target, now, log: logger }, config.webhookConfigurationName, caCert),
    now,
    log: logger,
  });
  const bundle = await rotator.start();
  return { tls: { cert: bundle.cert, key: bundle.key }, source: rotator, stop: () => rotator.stop() };
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export async function run(argv: string[], env: Env = process.env): Promise<void> {
  if (argv.length > 0) {
    throw new Error(`kcr webhook takes no arguments (got ${argv.join(' ')}); configure it with KCR_WEBHOOK_* environment variables`);
  }
  const config = parseWebhookConfig(env);
  // Asynchronous stdout: log writes never block an admission.
  const destination = pino.destination({ dest: 1, sync: false });
  const logger = createLogger('webhook', config.logLevel, destination);
  // Not client-node's KubeConfig: the webhook never loads client-node (cluster-access.ts).
  const kc = await loadClusterAccess(config);
  const certs = await servingCertificate(config, kc, logger);
  const claims = kubeClaimApi(kubeJson(kc, { timeoutMs: config.claimTimeoutMs }), GROUP, VERSION, PLURALS.Checkpoint);
  const clientCa = config.clientCaFile === undefined ? undefined : readFileSync(config.clientCaFile, 'utf8');
  const webhook = await startWebhook({ config, feeds: kubeIndexFeeds(kc, { logger, ...(config.registryAuth === 'token' ? { pullSecretRecordIn: config.namespace } : {}) }), tls: certs.tls, logger, claims, clientCa, metricsListen: {
    host: config.metricsHost,
    port: config.metricsPort,
    ...(config.metricsAuth === 'kubernetes' ? { authorize: metricsAuthorizer(kubeJson(kc)) } : {}),
  } });
  const detach = attachHotReload(webhook.server, certs.source, logger);
  void webhook.informers.whenSynced().then(() => logger.info({}, 'restore index ready'));

  const signal = await waitForSignal();
  logger.info({ signal, deadlineMs: config.shutdownDeadlineMs }, 'shutting down');
  detach();
  certs.stop();
  // A third of the deadline to leave the Service's endpoints, the rest for in-flight requests.
  await webhook.close(config.shutdownDeadlineMs, Math.min(5000, Math.floor(config.shutdownDeadlineMs / 3)));
  logger.info({}, 'webhook stopped');
  // Client libraries may keep idle sockets open; they must not hold the process past shutdown.
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
  try {
    destination.flushSync();
  } catch {
    // not opened yet: nothing buffered
  }
}
