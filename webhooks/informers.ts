// Keeps the restore index in step with the cluster: one list+watch informer per
// kind feeds index.upsert/remove. The admission path only reads the index, so it
// never waits on the API server. "Synced" means every informer delivered its
// initial list; /readyz reports it. An informer that fails is restarted with
// exponential backoff (client-node's ListWatch stops on errors other than 410
// and client timeouts).
import { ListWatch, Watch, makeInformer, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { GROUP, PLURALS, VERSION } from '../src/api/types.ts';
import { PULL_SECRETS_RECORD } from '../src/registry-access/pull-secret-plan.ts';
import { getJson } from '../src/kube/raw.ts';
import type { Logger } from '../src/log.ts';
import type { IndexedKind, RestoreIndex } from './restore-index.ts';
import type { Readiness } from './server.ts';

/** One informer and the index kind its objects go to. */
export interface IndexFeed {
  /** Shown in logs and in /readyz while unsynced (e.g. "pods"). */
  name: string;
  kind: IndexedKind;
  informer: Informer<KubernetesObject>;
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
}

interface FeedState {
  feed: IndexFeed;
  synced: boolean;
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
  #stopped = false;
  #started = false;
  #waiters: Array<() => void> = [];

  constructor(opts: InformerSetOptions) {
    this.#index = opts.index;
    this.#logger = opts.logger;
    this.#backoff = opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
    this.#states = opts.feeds.map((feed) => ({
      feed, synced: false, failures: 0, attempt: 0, erroredAttempt: -1, restartTimer: undefined,
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
  }

  #run(state: FeedState): void {
    if (this.#stopped) return;
    const attempt = ++state.attempt;
    state.feed.informer.start().then(
      () => {
        if (this.#stopped || attempt !== state.attempt || state.erroredAttempt === attempt) return;
        state.failures = 0;
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
    if (this.#stopped || state.erroredAttempt === attempt || state.restartTimer) return;
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

function listOf(kc: KubeConfig, path: string) {
  return () => getJson<KubernetesListObject<KubernetesObject>>(kc, path);
}

/**
 * The informers `kcr webhook` runs: pods, namespaces, nodes, workloads and kcr's CRs, all
 * namespaces; in token mode also kcr's record of the kcr-pull Secrets (one ConfigMap in kcr's namespace).
 */
export function kubeIndexFeeds(kc: KubeConfig, options: { pullSecretRecordIn?: string } = {}): IndexFeed[] {
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
  const made = feeds.map(([name, kind, path]) => ({ name, kind, informer: makeInformer(kc, path, listOf(kc, path)) }));
  if (options.pullSecretRecordIn !== undefined) {
    // By name: the webhook's Role reads this one ConfigMap only (resourceNames allow list/watch with this field selector).
    const path = `/api/v1/namespaces/${options.pullSecretRecordIn}/configmaps`;
    const fieldSelector = `metadata.name=${PULL_SECRETS_RECORD}`;
    const informer = new ListWatch(path, new Watch(kc), listOf(kc, `${path}?fieldSelector=${encodeURIComponent(fieldSelector)}`), false, undefined, fieldSelector);
    made.push({ name: 'pull-secret-record', kind: 'PullSecretRecord', informer });
  }
  return made;
}
