// Wires one node's agent: the BullMQ worker of the node's queue running processCheckpointJob,
// and the health server. Everything it talks to is passed in or built from the config.
import { readFile } from 'node:fs/promises';
import type { Job, Worker } from 'bullmq';
import type { KubeConfig, V1Node } from '@kubernetes/client-node';
import type { AgentConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { createCheckpointWorker } from '../queue/checkpoint-queues.ts';
import { createRedisConnection } from '../queue/connection.ts';
import { redisAccessOptions } from '../queue/redis-access.ts';
import { logRedisAvailability } from '../queue/redis-availability-log.ts';
import { closeWithDeadline } from '../queue/shutdown.ts';
import { parseInsecureRegistries } from '../images/registry-endpoint.ts';
import { checkpointContainer, type KubeletAccess } from '../kubelet/checkpoint-call.ts';
import { KubeletCheckpointError } from '../kubelet/checkpoint-error.ts';
import { kubeletEndpoint } from '../kubelet/kubelet-endpoint.ts';
import type { CheckpointJobData } from '../schedule/fan-out.ts';
import { createAgentKube, type AgentKube } from './agent-kube.ts';
import { ArchiveFolder } from './archive-folder.ts';
import { ArchiveLedgerFile } from './archive-ledger-file.ts';
import { ArchiveTurns } from './archive-turns.ts';
import { startHealthServer, type HealthServer } from './health-server.ts';
import { publishNodeCapability } from './node-capability.ts';
import { createImagePushers } from './image-pusher.ts';
import { processCheckpointJob } from './process-checkpoint-job.ts';
import { createAgentMetrics, type AgentMetrics } from './agent-metrics.ts';
import { Heartbeat, livenessOf, type Liveness } from '../metrics/heartbeat.ts';
import { startMetricsServer, type MetricsServer } from '../metrics/metrics-server.ts';
import { metricsAuthorizer } from '../metrics/metrics-auth.ts';
import { kubeJson } from '../kube/kube-json.ts';

export interface RunningAgent {
  worker: Worker<CheckpointJobData>;
  health: HealthServer;
  metrics: AgentMetrics;
  metricsServer: MetricsServer;
  ready(): boolean;
  live(): Liveness;
  /** Stops taking jobs, waits for running ones up to the deadline, closes everything. */
  close(deadlineMs?: number): Promise<'closed' | 'deadline'>;
}

export async function startAgent(options: { config: AgentConfig; kc: KubeConfig; log: Logger; now?: () => Date }): Promise<RunningAgent> {
  const { config, kc, log } = options;
  const now = options.now ?? (() => new Date());
  // The password comes from the mounted Secret file, never the URL (a bad file stops the start).
  const connection = createRedisConnection(config.redisUrl, 'worker', await redisAccessOptions({ passwordFile: config.redisPasswordFile, caFile: config.redisCaFile }));
  logRedisAvailability(connection, 'worker', log);
  const registrySecret = { namespace: config.namespace, name: config.registrySecretName };
  const apiKube = createAgentKube(kc, { registrySecret, host: config.nodeName });
  // A mounted .dockerconfigjson (KCR_REGISTRY_AUTH_FILE) wins over reading the Secret; either is
  // read per job, so rotated credentials apply from the next job on.
  const authFile = config.images.authFile;
  const kube: AgentKube = authFile === undefined ? apiKube : { ...apiKube, registryDockerConfig: () => readFile(authFile, 'utf8') };
  const ca = config.images.caFile === undefined ? undefined : await readFile(config.images.caFile, 'utf8');
  const images = createImagePushers({
    registry: config.images.registry,
    prefix: config.images.repositoryPrefix,
    insecureRegistries: parseInsecureRegistries(config.images.insecureRegistries),
    ca,
    compression: config.images.layerCompression,
  });
  const archives = new ArchiveFolder(config.checkpointDir);
  const access = await kubeletAccessFor(config, log);
  const inUse = new Set<string>();
  // One ledger and one set of turns for every job of this agent (it runs KCR_AGENT_CONCURRENCY at once).
  const ledger = new ArchiveLedgerFile(config.checkpointDir);
  const turns = new ArchiveTurns({ now });
  const metrics = createAgentMetrics({ redisUp: () => connection.status === 'ready' });

  const worker = createCheckpointWorker({
    nodeName: config.nodeName,
    connection,
    prefix: config.queuePrefix,
    concurrency: config.concurrency,
    retention: config.jobRetention,
    process: (data: CheckpointJobData, job: Job<CheckpointJobData>) =>
      processCheckpointJob(
        data,
        { number: job.attemptsMade + 1, max: job.opts.attempts ?? 1 },
        {
          node: config.nodeName,
          kube,
          kubelet: (call, node) => checkpointContainer(kc, call, access(call.node, node)),
          images,
          archives,
          ledger,
          turns,
          keepArchives: config.keepArchives,
          registrySecret: `${registrySecret.namespace}/${registrySecret.name}`,
          now,
          log,
          inUse,
          metrics,
        },
      ),
  });
  // Without a listener an 'error' (Redis restarting) would crash the process. While Redis is
  // away every retry errors: logRedisAvailability reported why once, these go to debug.
  worker.on('error', (err) => {
    if (connection.status === 'ready') log.warn({ err: err.message, node: config.nodeName }, 'queue worker error');
    else log.debug({ err: err.message, node: config.nodeName }, 'queue worker error while Redis is unavailable');
  });
  worker.on('failed', (job, err) =>
    log.debug({ job: job?.id, attemptsMade: job?.attemptsMade, err: err.message, node: config.nodeName }, 'checkpoint job attempt failed'),
  );

  // What this node can restore, as labels; a failure is logged and tried again next time, never fatal.
  const publish = () =>
    publishNodeCapability({ node: config.nodeName, kube: apiKube, paths: config.runtimeConfig, log }).catch((err: unknown) =>
      log.warn({ node: config.nodeName, err: err instanceof Error ? err.message : String(err) }, 'could not publish the node’s restore capability'),
    );
  void publish();
  const capabilityTimer = setInterval(() => void publish(), config.capabilityIntervalMs);
  capabilityTimer.unref();

  const ready = () => connection.status === 'ready' && worker.isRunning() && !worker.closing;
  // The worker's loop: BullMQ's run() keeps `running` true until its main loop ends. A ticker on
  // the event loop beats while it runs, so an ended loop or a blocked event loop stops the beats.
  const workerBeat = new Heartbeat('queue worker', config.livenessTimeoutMs);
  const beatTimer = setInterval(() => {
    if (worker.isRunning() && !worker.isPaused()) workerBeat.beat();
  }, Math.min(5000, Math.max(250, Math.floor(config.livenessTimeoutMs / 4))));
  beatTimer.unref();
  const live = () => livenessOf([workerBeat]);
  const metricsServer = await startMetricsServer({
    registry: metrics.registry,
    host: config.metricsHost,
    port: config.metricsPort,
    ...(config.metricsAuth === 'kubernetes' ? { authorize: metricsAuthorizer(kubeJson(kc)) } : {}),
    onError: (err) => log.warn({ err: err instanceof Error ? err.message : String(err), node: config.nodeName }, 'metrics scrape failed'),
  });
  const health = await startHealthServer({ port: config.healthPort, host: config.healthHost, ready, live });
  log.info({ node: config.nodeName, healthPort: health.port, metricsPort: metricsServer.port, checkpointDir: config.checkpointDir, registry: config.images.registry }, 'agent started');

  return {
    worker,
    health,
    metrics,
    metricsServer,
    ready,
    live,
    async close(deadlineMs = config.shutdownDeadlineMs) {
      clearInterval(capabilityTimer);
      clearInterval(beatTimer);
      const outcome = await closeWithDeadline(worker, deadlineMs, () => connection.disconnect());
      if (outcome === 'closed') await connection.quit().catch(() => connection.disconnect());
      images.close();
      await health.close();
      await metricsServer.close();
      return outcome;
    },
  };
}

/**
 * Direct: the node's address from its status (the Node the job has just read, no second read),
 * the kubelet's certificate checked against KCR_KUBELET_CA (e.g. the node's own
 * /var/lib/kubelet/pki/kubelet.crt, mounted read-only) or, when that is unset or not there, the
 * cluster's CA.
 */
async function kubeletAccessFor(config: AgentConfig, log: Logger): Promise<(name: string, node: V1Node) => KubeletAccess> {
  if (config.kubeletAccess === 'proxy') return () => ({ kind: 'proxy' });
  let ca: string | undefined;
  if (config.kubeletCaFile !== undefined) {
    ca = await readFile(config.kubeletCaFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      log.warn({ node: config.nodeName, file: config.kubeletCaFile }, 'KCR_KUBELET_CA is not there; checking the kubelet against the cluster CA');
      return undefined;
    });
  }
  return (name, node) => {
    const endpoint = kubeletEndpoint(node);
    if ('error' in endpoint) throw new KubeletCheckpointError(endpoint.error, { node: name, code: 'NoKubeletAddress' });
    return { kind: 'direct', ca, endpoint };
  };
}
