// Keeps the restore index in step with the cluster: one list+watch informer per
// kind feeds index.upsert/remove. The admission path only reads the index, so it
// never waits on the API server. "Synced" means every informer delivered its
// initial list; /readyz reports it. An informer that fails is restarted with
// exponential backoff (the projecting informer, src/kube/projected-informer.ts, goes idle on
// errors other than 410 and a server-ended watch). Each informer's connection is tracked against the clock: one
// disconnected longer than the bound makes the index stale (index-staleness.ts).
import type { Informer, KubernetesObject } from '@kubernetes/client-node';
import type { ClusterAccess } from '../src/kube/cluster-access.ts';
import { GROUP, PLURALS, VERSION } from '../src/api/types.ts';
import { PULL_SECRETS_RECORD } from '../src/registry-access/pull-secret-plan.ts';
import { ProjectedInformer } from '../src/kube/projected-informer.ts';
import type { Logger } from '../src/log.ts';
import type { IndexedKind, RestoreIndex } from './restore-index.ts';
import type { Readiness } from './server.ts';
import { staleFeeds, type FeedConnection, type StaleFeed } from './index-staleness.ts';
import type { ConnectionSignal } from '../src/kube/connection-signal.ts';
import { INDEX_FIELD_SELECTORS, INDEX_METADATA_ONLY, INDEX_PROJECTIONS } from './index-projections.ts';

/** One informer and the index kind its objects go to. */
export interface IndexFeed {
  /** Shown in logs and in /readyz while unsynced (e.g. "pods"). */
  name: string;
  kind: IndexedKind;
  informer: Informer<KubernetesObject>;
  /**
   * Reports the informer's watch stream opening and ending (ProjectedInformer). Without it, a
   * start that delivered its list counts as connected and an 'error' as disconnected.
   */
  connection?: ConnectionSignal;
}

export type IndexSink = Pick<RestoreIndex, 'upsert' | 'remove'>;

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export interface InformerSetOptions {
  feeds: IndexFeed[];
  index: IndexSink;
  logger: Logger;
  backoff?: Backoff;
  /** The clock connection times are read from. */
  now?: () => Date;
  /** An informer disconnected longer than this makes the index stale (KCR_WEBHOOK_STALE_INDEX_SECONDS). */
  staleAfterMs?: number;
}

export const DEFAULT_STALE_AFTER_MS = 30_000;

interface FeedState {
  feed: IndexFeed;
  synced: boolean;
  connected: boolean;
  /** When it last connected or disconnected; undefined until its first connection. */
  since: Date | undefined;
  /** Consecutive failed starts, for the backoff. */
  failures: number;
  /** Incremented on each start; events from older attempts are ignored. */
  attempt: number;
  erroredAttempt: number;
  restartTimer: NodeJS.Timeout | undefined;
}

function errorCode(err: unknown): number | string | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null | undefined;
  const code = e?.code ?? e?.statusCode;
  return typeof code === 'number' || typeof code === 'string' ? code : undefined;
}

export class InformerSet implements Readiness {
  readonly #states: FeedState[];
  readonly #index: IndexSink;
  readonly #logger: Logger;
  readonly #backoff: Backoff;
  readonly #now: () => Date;
  readonly #staleAfterMs: number;
  /** The stale feeds the last stale() saw, to log changes once. */
  #lastStale = '';
  #stopped = false;
  #started = false;
  #waiters: Array<() => void> = [];

  constructor(opts: InformerSetOptions) {
    this.#index = opts.index;
    this.#logger = opts.logger;
    this.#backoff = opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
    this.#now = opts.now ?? (() => new Date());
    this.#staleAfterMs = opts.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    this.#states = opts.feeds.map((feed) => ({
      feed, synced: false, connected: false, since: undefined, failures: 0, attempt: 0, erroredAttempt: -1, restartTimer: undefined,
    }));
  }

  /** Starts every informer; returns at once (see whenSynced). */
  start(): void {
    if (this.#started) throw new Error('InformerSet already started');
    this.#started = true;
    for (const state of this.#states) {
      this.#subscribe(state);
      this.#run(state);
    }
  }

  synced(): boolean {
    return this.#states.every((s) => s.synced);
  }

  unsynced(): string[] {
    return this.#states.filter((s) => !s.synced).map((s) => s.feed.name);
  }

  /**
   * Informers disconnected longer than the bound: while there is one, the webhook is not ready
   * and restores nothing (it cannot tell a source pod that is gone from one it did not hear of).
   */
  stale(): string[] {
    return this.staleFeeds().map((f) => f.name);
  }

  /** Each informer's watch connection and since when (for tests and diagnostics). */
  connections(): FeedConnection[] {
    return this.#states.map((s) => ({ name: s.feed.name, connected: s.connected, since: s.since }));
  }

  staleFeeds(): StaleFeed[] {
    const stale = staleFeeds(this.#now(), this.connections(), this.#staleAfterMs);
    const key = stale.map((f) => f.name).join(',');
    if (key !== this.#lastStale) {
      if (stale.length > 0) {
        this.#logger.warn({ stale: stale.map((f) => ({ informer: f.name, disconnectedSeconds: Math.round(f.disconnectedMs / 1000) })), boundSeconds: this.#staleAfterMs / 1000 },
          'restore index is stale: not ready and no restores until the watches reconnect');
      } else {
        this.#logger.info({ informers: this.#states.length }, 'restore index current again: every watch is connected');
      }
      this.#lastStale = key;
    }
    return stale;
  }

  /** Resolves once every informer delivered its initial list (or at stop). */
  whenSynced(): Promise<void> {
    if (this.synced() || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const s of this.#states) clearTimeout(s.restartTimer);
    await Promise.allSettled(this.#states.map((s) => s.feed.informer.stop()));
    this.#release();
  }

  #subscribe(state: FeedState): void {
    const { feed } = state;
    const apply = (op: 'upsert' | 'remove') => (obj: KubernetesObject) => {
      if (this.#stopped) return;
      try {
        this.#index[op](feed.kind, obj);
      } catch (err) {
        // A bad object must not stop the informer: log it and go on.
        this.#logger.error({ err, kind: feed.kind, namespace: obj.metadata?.namespace, name: obj.metadata?.name },
          'restore index rejected an object');
      }
    };
    feed.informer.on('add', apply('upsert'));
    feed.informer.on('update', apply('upsert'));
    feed.informer.on('delete', apply('remove'));
    feed.informer.on('error', (err?: unknown) => this.#onError(state, state.attempt, err));
    // Not 'connect': informers emit it before they try (connection-signal.ts).
    feed.connection?.onConnection((up) => {
      if (this.#stopped) return;
      if (up) this.#connected(state);
      else this.#disconnected(state);
    });
  }

  #connected(state: FeedState): void {
    if (state.connected) return;
    const was = state.since;
    state.connected = true;
    state.since = this.#now();
    if (was !== undefined) {
      const disconnectedMs = state.since.getTime() - was.getTime();
      // A watch ending and coming back is routine; say so only after a real break.
      const level = disconnectedMs > this.#staleAfterMs / 10 ? 'info' : 'debug';
      this.#logger[level]({ informer: state.feed.name, disconnectedMs }, 'informer watch reconnected');
    }
  }

  #disconnected(state: FeedState): void {
    // Before the first connection there is nothing to go stale: "not synced" covers it.
    if (!state.connected) return;
    state.connected = false;
    state.since = this.#now();
  }

  #run(state: FeedState): void {
    if (this.#stopped) return;
    const attempt = ++state.attempt;
    state.feed.informer.start().then(
      () => {
        if (this.#stopped || attempt !== state.attempt || state.erroredAttempt === attempt) return;
        state.failures = 0;
        this.#connected(state);
        if (!state.synced) {
          state.synced = true;
          this.#logger.info({ informer: state.feed.name }, 'informer cache synced');
          if (this.synced()) {
            this.#logger.info({ informers: this.#states.length }, 'all informer caches synced');
            this.#release();
          }
        }
      },
      (err: unknown) => this.#onError(state, attempt, err),
    );
  }

  #onError(state: FeedState, attempt: number, err: unknown): void {
    if (this.#stopped) return;
    this.#disconnected(state);
    if (state.erroredAttempt === attempt || state.restartTimer) return;
    state.erroredAttempt = attempt;
    state.failures += 1;
    const base = Math.min(this.#backoff.initialMs * 2 ** (state.failures - 1), this.#backoff.maxMs);
    // Jitter so replicas do not relist in lockstep after an API server restart.
    const delayMs = Math.round(base * (0.8 + Math.random() * 0.4));
    this.#logger.warn({ informer: state.feed.name, code: errorCode(err), err, delayMs, failures: state.failures },
      'informer failed; restarting');
    state.restartTimer = setTimeout(() => {
      state.restartTimer = undefined;
      this.#run(state);
    }, delayMs);
  }

  #release(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

/**
 * The informers `kcr webhook` runs: pods, namespaces, nodes, workloads and kcr's CRs, all
 * namespaces; in token mode also kcr's record of the kcr-pull Secrets (one ConfigMap in kcr's namespace).
 */
export interface KubeFeedOptions {
  pullSecretRecordIn?: string;
  /** Objects per list page (default 500). */
  pageSize?: number;
  /** A watch silent longer than this is restarted (default: its server timeout + 30 s). */
  silentMs?: number;
  logger?: Logger;
}

export function kubeIndexFeeds(kc: ClusterAccess, options: KubeFeedOptions = {}): IndexFeed[] {
  const kcr = `/apis/${GROUP}/${VERSION}`;
  const feeds: Array<[name: string, kind: IndexedKind, path: string]> = [
    ['pods', 'Pod', '/api/v1/pods'],
    ['namespaces', 'Namespace', '/api/v1/namespaces'],
    // Which nodes can restore what (restore.kcr.io labels): placement and no-capable-node.
    ['nodes', 'Node', '/api/v1/nodes'],
    ['replicasets', 'ReplicaSet', '/apis/apps/v1/replicasets'],
    ['deployments', 'Deployment', '/apis/apps/v1/deployments'],
    ['statefulsets', 'StatefulSet', '/apis/apps/v1/statefulsets'],
    [PLURALS.Checkpoint, 'Checkpoint', `${kcr}/${PLURALS.Checkpoint}`],
    [PLURALS.CheckpointSchedule, 'CheckpointSchedule', `${kcr}/${PLURALS.CheckpointSchedule}`],
  ];
  const common = { kc, ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}), ...(options.silentMs !== undefined ? { silentMs: options.silentMs } : {}),
    ...(options.logger ? { logger: options.logger } : {}) };
  // Each keeps only what the index reads of its kind (index-projections.ts).
  const made: IndexFeed[] = feeds.map(([name, kind, path]) => {
    const fieldSelector = INDEX_FIELD_SELECTORS[kind];
    const informer = new ProjectedInformer({ ...common, name, path, project: INDEX_PROJECTIONS[kind], metadataOnly: INDEX_METADATA_ONLY.has(kind), ...(fieldSelector ? { fieldSelector } : {}) });
    return { name, kind, informer, connection: informer };
  });
  if (options.pullSecretRecordIn !== undefined) {
    // By name: the webhook's Role reads this one ConfigMap only (resourceNames allow list/watch with this field selector).
    const path = `/api/v1/namespaces/${options.pullSecretRecordIn}/configmaps`;
    const fieldSelector = `metadata.name=${PULL_SECRETS_RECORD}`;
    const informer = new ProjectedInformer({ ...common, name: 'pull-secret-record', path, fieldSelector, project: INDEX_PROJECTIONS.PullSecretRecord });
    made.push({ name: 'pull-secret-record', kind: 'PullSecretRecord', informer, connection: informer });
  }
  return made;
}
