// The controller's moving parts wired together: informers feed the cache (all replicas, so a
// standby is warm), the Lease decides who leads, and only the leader runs the schedule worker
// (fires) and the reconcile pass (schedulers, unqueued and stuck requests, restore requests,
// failed and in-place restores, TTL, status, retention).
// Losing the lease stops the leading work; shutdown stops workers with a deadline and releases
// the lease so the standby takes over at once.
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ControllerConfig } from '../config.ts';
import { LeaseElection } from '../leader/lease-election.ts';
import type { Logger } from '../log.ts';
import { CheckpointQueues } from '../queue/checkpoint-queues.ts';
import { createScheduleWorker } from '../queue/schedule-worker.ts';
import { createScheduleQueue, SchedulerStore } from '../queue/scheduler-store.ts';
import { DEFAULT_JOB_RETENTION } from '../queue/job-retention.ts';
import { nodeQueueName, SCHEDULE_QUEUE } from '../schedule/names.ts';
import { closeWithDeadline } from '../queue/shutdown.ts';
import { InformerSet, type IndexFeed } from '../../webhooks/informers.ts';
import { kubeEventRecorder, type EventRecorder } from './events.ts';
import { handleFire } from './fire-handler.ts';
import type { KubeJson } from '../kube/kube-json.ts';
import { sweepKeptManifests } from './kept-manifest-sweep.ts';
import { ObjectCache } from './object-cache.ts';
import { deleteExpiredRequests, failStaleRequests, queuePendingRequests } from './request-keeper.ts';
import type { Suspect } from './stale-request.ts';
import { runRestoreRequests } from './restore-request-runner.ts';
import { watchRestores } from './restore-watch.ts';
import { RetentionRunner, type ManifestDeleter } from './retention-runner.ts';
import { runCheckpointFinalizers } from './checkpoint-finalizers.ts';
import { RegistrySweeper, type RegistryInventory } from './registry-sweep.ts';
import { BesidePass } from './beside-pass.ts';
import { reconcileSchedulers } from './scheduler-reconciler.ts';
import { syncScheduleStatuses } from './status-sync.ts';
import { untilNextPass } from './until-next-pass.ts';
import { NO_CONTROLLER_METRICS, type ControllerGaugeSources, type ControllerRecorder, type QueueJobsSample } from './controller-metrics.ts';
import { QueueJobCounts } from './queue-job-counts.ts';
import { Heartbeat, livenessOf, type Liveness } from '../metrics/heartbeat.ts';
import { RestoreTally } from '../restore/restore-outcomes.ts';
import { overdueSchedules } from '../schedule/overdue.ts';
import type { Checkpoint, CheckpointSchedule } from '../api/types.ts';

export type ControllerSettings = Pick<
  ControllerConfig,
  | 'namespace' | 'queuePrefix' | 'podName' | 'leaseName' | 'leaseDurationSeconds' | 'leaseRenewDeadlineMs' | 'leaseRetryPeriodMs'
  | 'resyncMs' | 'retentionIntervalMs' | 'requestTtlSeconds' | 'requestStuckMarginSeconds' | 'requestLostGraceSeconds' | 'shutdownDeadlineMs'
  | 'watchNamespaces' | 'restoreTimeoutSeconds' | 'restorePullTimeoutSeconds' | 'inPlaceRestoreMax' | 'inPlaceRestoreWindowSeconds'
  | 'checkpointRepositories' | 'registrySweepIntervalMs' | 'registrySweepGraceMs'
> & Partial<Pick<ControllerConfig, 'jobRetention' | 'livenessTimeoutMs' | 'queueMetricsIntervalMs'>>;

export interface ControllerDeps {
  settings: ControllerSettings;
  api: KubeJson;
  feeds: IndexFeed[];
  /** Producer connection (fails fast while Redis is down): schedulers, node queues. */
  producer: Redis;
  /** Worker connection (maxRetriesPerRequest: null): the schedule worker. */
  workerConnection: Redis;
  deleteManifest: ManifestDeleter;
  logger: Logger;
  events?: EventRecorder;
  /** Lists the registry for the sweep of unreferenced manifests (none: no sweep). */
  inventory?: RegistryInventory;
  /** Token mode: keeps the kcr-pull Secrets (leader only, each pass), from the controller's cache. */
  pullSecrets?: (cache: ObjectCache) => { sync(now: Date): Promise<void> };
  /** Where fires, restores, bad checkpoints and retention deletions are counted (controller-metrics.ts). */
  metrics?: ControllerRecorder;
}

export interface RunningController {
  cache: ObjectCache;
  informers: InformerSet;
  leading(): boolean;
  notReady(): string[];
  /** Runs a reconcile pass now (leader only); resolves when it is done. */
  pass(): Promise<void>;
  /** Whether the main loops beat within their bound (/livez). */
  live(): Liveness;
  /** What the metrics' gauges read at scrape time. */
  gauges: ControllerGaugeSources;
  stop(): Promise<void>;
}

export function startController(deps: ControllerDeps): RunningController {
  const { settings: s, api, logger, producer } = deps;
  const metrics = deps.metrics ?? NO_CONTROLLER_METRICS;
  // The main loops' heartbeats (/livez): the election always runs; the reconcile pass and the
  // schedule worker only while leading.
  const livenessMs = s.livenessTimeoutMs ?? 120_000;
  const beats = {
    election: new Heartbeat('lease election', livenessMs),
    reconcile: new Heartbeat('reconcile pass', livenessMs, { expected: false }),
    scheduleWorker: new Heartbeat('schedule worker', livenessMs, { expected: false }),
  };
  const restoreTally = new RestoreTally();
  const cache = new ObjectCache({ namespaces: s.watchNamespaces });
  const informers = new InformerSet({ feeds: deps.feeds, index: cache, logger });
  const events = deps.events ?? kubeEventRecorder(api, logger, { host: s.podName });
  const retention = new RetentionRunner({ api, cache, events, logger, metrics });
  const pullSecrets = deps.pullSecrets?.(cache);
  const inPlaceBound = { maxRestores: s.inPlaceRestoreMax, windowMs: s.inPlaceRestoreWindowSeconds * 1000 };

  // BullMQ queues are made per leadership term, once Redis is reachable: a Queue built while
  // its connection is down stays broken (its initialisation failed), so each term starts fresh.
  interface TermQueues {
    scheduleQueue: ReturnType<typeof createScheduleQueue>;
    store: SchedulerStore;
    queues: CheckpointQueues;
  }
  let tq: TermQueues | undefined;
  const openQueues = (): TermQueues => {
    const retention = s.jobRetention ?? DEFAULT_JOB_RETENTION;
    const scheduleQueue = createScheduleQueue(producer, s.queuePrefix, SCHEDULE_QUEUE, retention);
    return {
      scheduleQueue,
      store: new SchedulerStore({ queue: scheduleQueue, client: producer, prefix: s.queuePrefix, retention }),
      queues: new CheckpointQueues({ connection: producer, prefix: s.queuePrefix, retention }),
    };
  };
  const closeQueues = async (t: TermQueues | undefined) => {
    if (t) await Promise.allSettled([t.queues.close(), t.scheduleQueue.close()]);
  };

  let leading = false;
  let term = 0;
  let worker: Worker | undefined;
  let forceNext = false;
  let lastKeptSweep = 0;
  let lastStaleCheck = 0;
  /** Requests seen lost (node, agent or job gone) on earlier passes: the grace runs across passes. */
  const suspects = new Map<string, Suspect>();
  let passTimer: NodeJS.Timeout | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const sweeper = deps.inventory && s.registrySweepIntervalMs > 0
    ? new RegistrySweeper({ cache, inventory: deps.inventory, deleteManifest: deps.deleteManifest, logger, repositories: s.checkpointRepositories, graceMs: s.registrySweepGraceMs, watchNamespaces: s.watchNamespaces })
    : undefined;
  const beside = {
    retention: new BesidePass('retention pass', s.retentionIntervalMs, () => retention.run(), logger),
    finalizers: new BesidePass('checkpoint finalizers', 0, () => runCheckpointFinalizers({ api, cache, deleteManifest: deps.deleteManifest, logger, repositories: s.checkpointRepositories }), logger),
    ...(sweeper ? { sweep: new BesidePass('registry sweep', s.registrySweepIntervalMs, () => sweeper.sweep(new Date()), logger) } : {}),
  };
  let again = false;
  let lastPassError: string | undefined;
  let stopped = false;

  const redisProblem = (): string | undefined =>
    producer.status === 'ready' ? undefined : `Redis at ${producer.options.host ?? '?'}:${producer.options.port ?? '?'} is unreachable (${producer.status})`;

  /** A pass that makes progress beats at each step: a long pass is not a hung one. */
  const progress = () => {
    if (leading) beats.reconcile.beat();
  };

  async function passOnce(): Promise<void> {
    if (!leading) return;
    const myTerm = term;
    const t = tq;
    if (!t) return;
    const keeper = { api, cache, queues: t.queues, events, logger, defaultTtlSeconds: s.requestTtlSeconds };
    const startedMs = performance.now();
    try {
      const { invalid, unregistered } = await reconcileSchedulers({ cache, store: t.store, events, logger, force: forceNext });
      forceNext = false;
      progress();
      if (!leading || myTerm !== term) return;
      await queuePendingRequests(keeper);
      progress();
      // One Redis look per unfinished request: at most once a resync interval.
      if (Date.now() - lastStaleCheck >= s.resyncMs) {
        lastStaleCheck = Date.now();
        await failStaleRequests(keeper, { marginSeconds: s.requestStuckMarginSeconds, graceSeconds: s.requestLostGraceSeconds, suspects });
      }
      progress();
      await runRestoreRequests({ api, kcrNamespace: s.namespace, cache, events, logger, repositories: s.checkpointRepositories, timeoutMs: s.restoreTimeoutSeconds * 1000, metrics });
      await syncPullSecrets();
      progress();
      // A LIST in kcr's namespace: at most once a resync interval, however often passes run.
      if (Date.now() - lastKeptSweep >= s.resyncMs) {
        lastKeptSweep = Date.now();
        await untilNextPass(logger, {}, 'kept manifest sweep', () => sweepKeptManifests({ api, cache, logger, kcrNamespace: s.namespace, watchNamespaces: s.watchNamespaces }));
      }
      progress();
      await watchRestores({ api, cache, events, logger, bound: inPlaceBound, pullTimeoutMs: s.restorePullTimeoutSeconds * 1000, repositories: s.checkpointRepositories, metrics, tally: restoreTally });
      await deleteExpiredRequests(keeper);
      progress();
      await syncScheduleStatuses({ api, cache, logger, invalid, unregistered });
      for (const b of Object.values(beside)) b.poke();
      if (lastPassError !== undefined) logger.info({}, 'reconcile pass succeeded again');
      lastPassError = undefined;
      // How long a pass takes over everything cached (bench:scale reads it).
      logger.debug({ passMs: Math.round(performance.now() - startedMs) }, 'reconcile pass done');
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // The same failure (e.g. Redis down) is logged once, not every pass.
      if (message !== lastPassError) logger.error({ err }, `reconcile pass failed: ${message}`);
      lastPassError = message;
    }
  }

  let lastPullSecretError: string | undefined;
  /** Its failure (API server refusing a namespace) must not hold up restores: logged once per cause. */
  async function syncPullSecrets(): Promise<void> {
    if (!pullSecrets) return;
    try {
      await pullSecrets.sync(new Date());
      lastPullSecretError = undefined;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message !== lastPullSecretError) logger.error({ err }, `pull secrets not kept: ${message}`);
      lastPullSecretError = message;
    }
  }

  function pass(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = passOnce().finally(() => {
      running = undefined;
      // A pass that ended, well or not: the loop goes on. One that never ends stops the beats.
      if (leading) beats.reconcile.beat();
      if (again && leading) {
        again = false;
        void pass();
      }
    });
    return running;
  }

  cache.setOnChange(() => {
    if (!leading || debounce) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      void pass();
    }, 200);
  });

  function startLeading(): void {
    if (stopped) return;
    leading = true;
    term++;
    beats.reconcile.expect();
    beats.scheduleWorker.expect();
    // A new leader rewrites every scheduler once: what the old one left may be stale.
    forceNext = true;
    beside.retention.reset();
    // What an earlier term saw is no observation of this one: every grace starts anew.
    suspects.clear();
    const t = openQueues();
    tq = t;
    worker = createScheduleWorker({
      connection: deps.workerConnection,
      prefix: s.queuePrefix,
      retention: s.jobRetention ?? DEFAULT_JOB_RETENTION,
      onFire: async (ref, fireTime) => {
        const lateness = (Date.now() - fireTime.getTime()) / 1000;
        try {
          const outcome = await handleFire({ api, cache, queues: t.queues, events, logger, ttlSecondsAfterFinished: s.requestTtlSeconds, stuckMarginSeconds: s.requestStuckMarginSeconds }, ref, fireTime);
          metrics.scheduleFired(outcome === undefined ? 'skipped' : 'fired', lateness);
        } catch (err) {
          metrics.scheduleFired('failed', lateness);
          throw err;
        }
      },
    });
    // While Redis is away every retry errors; the composition root logged why once.
    worker.on('error', (err) => (deps.workerConnection.status === 'ready' ? logger.warn({ err }, 'schedule worker error') : logger.debug({ err }, 'schedule worker error while Redis is unavailable')));
    worker.on('failed', (job, err) => logger.warn({ err, job: job?.id }, 'fired schedule failed; BullMQ retries it'));
    const tick = () => {
      if (!leading) return;
      void pass().finally(() => {
        if (leading) passTimer = setTimeout(tick, s.resyncMs);
      });
    };
    tick();
  }

  let workerClosing: Promise<unknown> = Promise.resolve();

  function stopLeadingWork(): Promise<unknown> {
    leading = false;
    beats.reconcile.idle();
    beats.scheduleWorker.idle();
    clearTimeout(passTimer);
    clearTimeout(debounce);
    debounce = undefined;
    const w = worker;
    const t = tq;
    worker = undefined;
    tq = undefined;
    if (w) {
      workerClosing = closeWithDeadline(w, s.shutdownDeadlineMs)
        .then((outcome) => logger.info({ outcome }, 'schedule worker stopped'))
        .then(() => closeQueues(t));
    }
    return workerClosing;
  }

  const election = new LeaseElection({
    api,
    namespace: s.namespace,
    name: s.leaseName,
    identity: s.podName,
    logger,
    leaseDurationSeconds: s.leaseDurationSeconds,
    renewDeadlineMs: s.leaseRenewDeadlineMs,
    retryPeriodMs: s.leaseRetryPeriodMs,
    // Lead only with a complete cache and a reachable Redis; otherwise the standby should.
    eligible: () => informers.synced() && redisProblem() === undefined,
    onStartedLeading: startLeading,
    onStoppedLeading: () => void stopLeadingWork(),
    onRound: () => beats.election.beat(),
  });
  // BullMQ keeps `running` true until the worker's main loop ends: a ticker beats while it runs.
  const workerTicker = setInterval(() => {
    if (worker?.isRunning() && !worker.isPaused()) beats.scheduleWorker.beat();
  }, Math.min(5000, Math.max(250, Math.floor(livenessMs / 4))));
  workerTicker.unref();

  const queueCounts = new QueueJobCounts({
    intervalMs: s.queueMetricsIntervalMs ?? 15_000,
    read: async () => {
      const t = tq;
      if (!leading || !t) return [];
      const samples: QueueJobsSample[] = [];
      await Promise.all(cache.list<{ metadata?: { name?: string } }>('Node').map(async (n) => {
        const node = n.metadata?.name;
        if (!node) return;
        for (const [state, count] of Object.entries(await t.queues.jobCounts(nodeQueueName(node)))) samples.push({ node, state, count });
      }));
      return samples;
    },
  });
  const gauges: ControllerGaugeSources = {
    leading: () => leading,
    redisUp: () => producer.status === 'ready',
    checkpointPhases() {
      const phases: Record<string, number> = {};
      for (const cp of cache.list<Checkpoint>('Checkpoint')) {
        const phase = cp.status?.phase ?? 'Pending';
        phases[phase] = (phases[phase] ?? 0) + 1;
      }
      return phases;
    },
    schedulesOverdue: () => overdueSchedules(cache.list<CheckpointSchedule>('CheckpointSchedule'), new Date()).length,
    queueJobs: () => queueCounts.samples(),
  };

  informers.start();
  election.start();

  return {
    cache,
    informers,
    leading: () => leading,
    notReady() {
      const reasons: string[] = [];
      const unsynced = informers.unsynced();
      if (unsynced.length > 0) reasons.push(`informers not synced: ${unsynced.join(', ')}`);
      const redis = redisProblem();
      if (redis) reasons.push(redis);
      return reasons;
    },
    pass,
    live: () => livenessOf(Object.values(beats)),
    gauges,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(workerTicker);
      // Workers first, then the lease: the standby starts firing only once this one stopped.
      await stopLeadingWork();
      await running;
      await Promise.all(Object.values(beside).map((b) => b.idle()));
      await election.stop();
      await informers.stop();
    },
  };
}
