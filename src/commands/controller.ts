// Composition root of `kcr controller`: config -> logger -> kube access -> Redis connections ->
// controller (informers, lease, leader work) -> health server; graceful shutdown on signals.
import { hostname } from 'node:os';
import { pino } from 'pino';
import { parseControllerConfig, type Env } from '../config.ts';
import { controllerFeeds } from '../controller/feeds.ts';
import { startController } from '../controller/controller.ts';
import { startHealthServer } from '../controller/health-server.ts';
import { boundPort } from '../net/listen.ts';
import { kubeJson } from '../kube/kube-json.ts';
import { controllerRegistry } from '../controller/registry-deleter.ts';
import { parseInsecureRegistries } from '../images/registry-endpoint.ts';
import { loadClusterAccess } from '../kube/cluster-access.ts';
import { createLogger } from '../log.ts';
import { createRedisConnection } from '../queue/connection.ts';
import { redisAccessOptions } from '../queue/redis-access.ts';
import { logRedisAvailability } from '../queue/redis-availability-log.ts';
import { PullSecretKeeper } from '../controller/pull-secret-keeper.ts';
import { tokenModeCredentials } from '../controller/registry-token-secrets.ts';
import { kubeEventRecorder } from '../controller/events.ts';
import { writerCredential } from '../registry-access/registry-identity.ts';
import { createControllerMetrics } from '../controller/controller-metrics.ts';
import { startMetricsServer } from '../metrics/metrics-server.ts';
import { metricsAuthorizer } from '../metrics/metrics-auth.ts';

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
    throw new Error(`kcr controller takes no arguments (got ${argv.join(' ')}); configure it with KCR_* environment variables`);
  }
  const config = parseControllerConfig({ HOSTNAME: hostname(), ...env });
  const destination = pino.destination({ dest: 1, sync: false });
  const logger = createLogger('controller', config.logLevel, destination);
  // Not client-node's KubeConfig: the controller never loads client-node (cluster-access.ts).
  const kc = await loadClusterAccess(config);
  const api = kubeJson(kc);
  // The password comes from the mounted Secret file, never the URL (a bad file stops the start).
  const access = await redisAccessOptions({ passwordFile: config.redisPasswordFile, caFile: config.redisCaFile });
  const producer = createRedisConnection(config.redisUrl, 'producer', access);
  const workerConnection = createRedisConnection(config.redisUrl, 'worker', access);
  logRedisAvailability(producer, 'producer', logger);
  logRedisAvailability(workerConnection, 'worker', logger);

  const metrics = createControllerMetrics();
  const events = kubeEventRecorder(api, logger, { host: config.podName });
  const registry = config.checkpointRepositories.registry;
  const credentials = config.registryAuth === 'token'
    ? tokenModeCredentials({
      api,
      namespace: config.namespace,
      registry,
      writerSecretName: config.registrySecretName,
      writerCredential,
      onCreatedKeys: () => logger.info({ namespace: config.namespace, secret: 'kcr-registry-token' }, 'made the registry token keys: the registry must trust its tls.crt (auth.token.rootcertbundle)'),
      onForeignWriterSecret: () => logger.error({ namespace: config.namespace, secret: config.registrySecretName }, `Secret ${config.registrySecretName} exists and kcr did not make it; in token mode kcr writes its own writer credential there: delete it`),
    })
    : undefined;
  const images = controllerRegistry({
    api,
    namespace: config.namespace,
    secretName: config.registrySecretName,
    insecureRegistries: parseInsecureRegistries(config.insecureRegistries),
    onRegistryError: (operation) => metrics.registryError(operation),
  });
  const controller = startController({
    events,
    ...(credentials ? {
      pullSecrets: (cache) => new PullSecretKeeper({
        api, cache, events, logger, namespace: config.namespace, registry,
        rotationSeconds: config.pullCredentialRotationSeconds, verifyIntervalMs: config.pullSecretVerifyMs, credentialKey: () => credentials.credentialKey(),
      }),
    } : {}),
    settings: config,
    api,
    feeds: controllerFeeds(kc, { logger }),
    producer,
    workerConnection,
    inventory: images.inventory(registry, config.checkpointRepositories.prefix),
    deleteManifest: images.deleteManifest,
    logger,
    metrics,
  });
  metrics.watch(controller.gauges);
  const metricsServer = await startMetricsServer({
    registry: metrics.registry,
    host: config.metricsHost,
    port: config.metricsPort,
    ...(config.metricsAuth === 'kubernetes' ? { authorize: metricsAuthorizer(api) } : {}),
    onError: (err) => logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'metrics scrape failed'),
  });
  const health = await startHealthServer({ notReady: () => controller.notReady(), leading: () => controller.leading(), live: () => controller.live() }, config.healthHost, config.healthPort);
  logger.info({ identity: config.podName, lease: `${config.namespace}/${config.leaseName}`, healthPort: boundPort(health), metricsPort: metricsServer.port }, 'controller started');

  const signal = await waitForSignal();
  logger.info({ signal, deadlineMs: config.shutdownDeadlineMs }, 'shutting down');
  await controller.stop();
  images.close();
  health.close();
  await metricsServer.close();
  producer.disconnect();
  workerConnection.disconnect();
  logger.info({}, 'controller stopped');
  setTimeout(() => process.exit(process.exitCode ?? 0), 500).unref();
  try {
    destination.flushSync();
  } catch {
    // not opened yet: nothing buffered
  }
}
