// A list+watch informer that keeps only a projection of each object (issue 13: the full
// objects of every pod of a cluster, cached by client-node's ListWatch, were most of the
// webhook's and the controller's memory). It lists page by page (`limit`/`continue`, each page
// parsed on its own), passes every object through the caller's projection before storing it,
// watches from the list's resourceVersion with bookmarks, reading the stream line by line, and
// emits add/update/delete with the projection; the full object is garbage once its event is handled.
//
// - A watch ERROR 410 (or an HTTP 410 to the watch request) relists, consistently, and applies the
//   list as a diff: adds, updates, and deletes for what vanished, so the consumer ends equal to it.
// - A 410 on a continue token (the snapshot expired mid-list) restarts the list from the first page.
// - A watch the server ends (its timeoutSeconds) is reopened from the tracked resourceVersion.
// - A watch silent longer than the bound (no event, no bookmark) is aborted and reopened.
// - Any other failure emits 'error' and the informer goes idle; InformerSet restarts it with
//   backoff (start() resumes the watch from the tracked resourceVersion when it has one).
// - onConnection: up once the API server answered 200 with the watch stream open, down from the
//   moment it ends until the next one is open (connection-signal.ts).
import type { IncomingMessage } from 'node:http';
import type { Informer, KubernetesObject } from '@kubernetes/client-node';
import type { ClusterAccess } from './cluster-access.ts';
import type { Logger } from '../log.ts';
import { getJson, openStream } from './raw.ts';
import { apiCode } from './kube-json.ts';
import { LineSplitter } from './line-splitter.ts';
import { listPageUrl, silentBoundMs, watchTimeoutSeconds, watchUrl, type Selectors } from './list-query.ts';
import { ProjectedStore, storeKey } from './projected-store.ts';
import { parseWatchLine, resourceVersionOf } from './watch-event.ts';
import type { ConnectionListener, ConnectionSignal } from './connection-signal.ts';

/** The kept part of an object; undefined drops it (never stored, never emitted). Must keep metadata.name and namespace. */
export type Projection<P extends KubernetesObject> = (obj: unknown) => P | undefined;

/** Where the informer reads: a kubeconfig's current cluster in production; the same calls faked nowhere (tests run a real HTTP server). */
export interface ProjectedInformerOptions<P extends KubernetesObject> {
  kc: ClusterAccess;
  /** Collection path, e.g. /api/v1/pods. */
  path: string;
  project: Projection<P>;
  labelSelector?: string;
  fieldSelector?: string;
  /** Objects per list page (default 500). */
  pageSize?: number;
  /**
   * Ask for PartialObjectMetadata (metadata only): for kinds whose projection reads nothing but
   * metadata, the API server sends less and the informer parses less.
   */
  metadataOnly?: boolean;
  /** Server-side watch timeout, seconds (default 240 to 300, spread). */
  watchTimeoutSeconds?: number;
  /** A watch silent (no event, no bookmark) this long is restarted (default: its timeout + 30 s). */
  silentMs?: number;
  logger?: Logger;
  /** Name in logs (default: the path). */
  name?: string;
}

type ObjectVerb = 'add' | 'update' | 'delete' | 'change';
type OtherVerb = 'error' | 'connect';

const METADATA_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const METADATA_WATCH_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
/** Restarts of a list whose continue token expired, before it counts as a failure. */
const LIST_RESTARTS = 3;

interface ListPage {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown[];
}

function withType(item: unknown, apiVersion: string | undefined, kind: string | undefined): unknown {
  if (typeof item !== 'object' || item === null || apiVersion === undefined || kind === undefined) return item;
  const o = item as { apiVersion?: string; kind?: string };
  if (o.apiVersion === undefined) o.apiVersion = apiVersion;
  if (o.kind === undefined) o.kind = kind;
  return o;
}

function metaOf(obj: unknown): { name?: string; namespace?: string } {
  const m = (obj as { metadata?: unknown } | null)?.metadata;
  return typeof m === 'object' && m !== null ? (m as { name?: string; namespace?: string }) : {};
}

export class ProjectedInformer<P extends KubernetesObject> implements Informer<P>, ConnectionSignal {
  readonly #o: ProjectedInformerOptions<P>;
  readonly #selectors: Selectors;
  readonly #store = new ProjectedStore<P>();
  readonly #objectCallbacks: Record<ObjectVerb, Array<(obj: P) => void>> = { add: [], update: [], delete: [], change: [] };
  readonly #otherCallbacks: Record<OtherVerb, Array<(err?: unknown) => void>> = { error: [], connect: [] };
  readonly #connectionListeners: ConnectionListener[] = [];
  /** The resourceVersion to watch from: the list's, then each event's and bookmark's. */
  #resourceVersion: string | undefined;
  /** Bumped by start() and stop(): work of an older run stops at its next step. */
  #run = 0;
  #abort: AbortController | undefined;
  #silentTimer: NodeJS.Timeout | undefined;
  #connected = false;
  /** Counters for tests and diagnostics. */
  readonly stats = { lists: 0, pages: 0, watches: 0, silentRestarts: 0, relists410: 0 };

  constructor(options: ProjectedInformerOptions<P>) {
    this.#o = options;
    this.#selectors = { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector };
  }

  on(verb: ObjectVerb, cb: (obj: P) => void): void;
  on(verb: OtherVerb, cb: (err?: unknown) => void): void;
  on(verb: ObjectVerb | OtherVerb, cb: ((obj: P) => void) | ((err?: unknown) => void)): void {
    if (verb === 'error' || verb === 'connect') this.#otherCallbacks[verb].push(cb as (err?: unknown) => void);
    else this.#objectCallbacks[verb].push(cb as (obj: P) => void);
  }

  off(verb: ObjectVerb, cb: (obj: P) => void): void;
  off(verb: OtherVerb, cb: (err?: unknown) => void): void;
  off(verb: ObjectVerb | OtherVerb, cb: ((obj: P) => void) | ((err?: unknown) => void)): void {
    const list: unknown[] = verb === 'error' || verb === 'connect' ? this.#otherCallbacks[verb] : this.#objectCallbacks[verb];
    const i = list.indexOf(cb);
    if (i >= 0) list.splice(i, 1);
  }

  onConnection(listener: ConnectionListener): void {
    this.#connectionListeners.push(listener);
  }

  /** Stored projection by name (and namespace). */
  get(name: string, namespace?: string): P | undefined {
    return this.#store.get(storeKey(namespace, name))?.obj;
  }

  list(namespace?: string): P[] {
    const out: P[] = [];
    for (const s of this.#store.values()) if (namespace === undefined || metaOf(s.obj).namespace === namespace) out.push(s.obj);
    return out;
  }

  /** The resourceVersion the next watch starts from (undefined before the first list). */
  latestResourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  /**
   * Lists (or, with a tracked resourceVersion, resumes watching) and resolves once the watch
   * stream is open; rejects when the API server cannot be read (the caller retries with backoff).
   */
  async start(): Promise<void> {
    const run = this.#begin();
    for (const cb of this.#otherCallbacks.connect) cb();
    if (this.#resourceVersion !== undefined) {
      try {
        await this.#openWatch(run);
        return;
      } catch (err) {
        if (apiCode(err) !== 410) throw err;
        this.#resourceVersion = undefined;
      }
    }
    await this.#relist(run);
    await this.#openWatch(run);
  }

  async stop(): Promise<void> {
    this.#begin();
  }

  /** Ends whatever the previous run had open; returns the new run's number. */
  #begin(): number {
    this.#run += 1;
    clearTimeout(this.#silentTimer);
    this.#silentTimer = undefined;
    this.#abort?.abort();
    this.#abort = undefined;
    this.#setConnected(false);
    return this.#run;
  }

  #current(run: number): boolean {
    return run === this.#run;
  }

  #setConnected(up: boolean): void {
    if (this.#connected === up) return;
    this.#connected = up;
    for (const l of this.#connectionListeners) l(up);
  }

  #emit(verb: ObjectVerb, obj: P): void {
    for (const cb of this.#objectCallbacks[verb]) cb(obj);
    for (const cb of this.#objectCallbacks.change) cb(obj);
  }

  #fail(run: number, err: unknown): void {
    if (!this.#current(run)) return;
    // Idle until start() again (InformerSet's backoff): nothing of this run may act any more.
    this.#begin();
    for (const cb of this.#otherCallbacks.error) cb(err);
  }

  // ---------- list ----------

  /** Lists every page and applies it as a diff; rejects on a failure (the store keeps what it had). */
  async #relist(run: number): Promise<void> {
    this.stats.lists += 1;
    const accept = this.#o.metadataOnly ? METADATA_ACCEPT : 'application/json';
    const limit = this.#o.pageSize ?? 500;
    for (let attempt = 0; ; attempt++) {
      const seen = new Set<string>();
      let token: string | undefined;
      let resourceVersion: string | undefined;
      try {
        do {
          const page = await getJson<ListPage>(this.#o.kc, listPageUrl(this.#o.path, this.#selectors, limit, token), undefined, accept);
          if (!this.#current(run)) return;
          this.stats.pages += 1;
          // A list's items carry no apiVersion and kind (watch events' objects do): give them the
          // list's, so an object reads the same whichever way it arrived.
          const itemKind = page.kind?.endsWith('List') ? page.kind.slice(0, -'List'.length) : undefined;
          for (const item of page.items ?? []) this.#listed(withType(item, page.apiVersion, itemKind), seen);
          resourceVersion = page.metadata?.resourceVersion;
          token = page.metadata?.continue || undefined;
        } while (token !== undefined);
      } catch (err) {
        // The snapshot behind the continue token expired: list again from the first page.
        if (apiCode(err) === 410 && token !== undefined && attempt < LIST_RESTARTS) {
          this.#o.logger?.info({ informer: this.#name(), attempt: attempt + 1 }, 'list continue token expired; listing again from the start');
          continue;
        }
        throw err;
      }
      for (const key of this.#store.vanished(seen)) {
        const gone = this.#store.delete(key);
        if (gone !== undefined) this.#emit('delete', gone.obj);
      }
      this.#resourceVersion = resourceVersion;
      return;
    }
  }

  #listed(item: unknown, seen: Set<string>): void {
    const m = metaOf(item);
    const key = storeKey(m.namespace, m.name);
    const projected = this.#o.project(item);
    if (projected === undefined) return;
    seen.add(key);
    const applied = this.#store.apply(key, projected, resourceVersionOf(item));
    if (applied !== 'same') this.#emit(applied, projected);
  }

  // ---------- watch ----------

  #name(): string {
    return this.#o.name ?? this.#o.path;
  }

  /** Opens a watch from the tracked resourceVersion; resolves once the stream is open. */
  async #openWatch(run: number): Promise<void> {
    const timeoutSeconds = this.#o.watchTimeoutSeconds ?? watchTimeoutSeconds(Math.random());
    const abort = new AbortController();
    this.#abort = abort;
    const accept = this.#o.metadataOnly ? METADATA_WATCH_ACCEPT : 'application/json';
    const res = await openStream(this.#o.kc, watchUrl(this.#o.path, this.#selectors, this.#resourceVersion ?? '', timeoutSeconds), abort.signal, accept);
    if (!this.#current(run)) {
      res.destroy();
      return;
    }
    this.stats.watches += 1;
    this.#setConnected(true);
    this.#consume(run, res, abort, silentBoundMs(timeoutSeconds, this.#o.silentMs));
  }

  #consume(run: number, res: IncomingMessage, abort: AbortController, silentMs: number): void {
    const lines = new LineSplitter();
    let finished = false;
    this.#silentTimer = setTimeout(() => {
      if (finished || !this.#current(run)) return;
      finished = true;
      this.stats.silentRestarts += 1;
      this.#o.logger?.info({ informer: this.#name(), silentMs }, 'watch silent longer than the bound; restarting it');
      abort.abort();
      this.#setConnected(false);
      this.#rewatch(run);
    }, silentMs);
    const onLine = (line: string): void => {
      if (finished || !this.#current(run)) return;
      this.#silentTimer?.refresh();
      const ev = parseWatchLine(line);
      switch (ev.type) {
        case 'ADDED':
        case 'MODIFIED':
        case 'DELETED':
          this.#event(ev.type, ev.object, ev.resourceVersion);
          return;
        case 'BOOKMARK':
          if (ev.resourceVersion !== undefined) this.#resourceVersion = ev.resourceVersion;
          return;
        case 'ERROR':
          finished = true;
          abort.abort();
          this.#setConnected(false);
          if (ev.code === 410) {
            this.stats.relists410 += 1;
            this.#o.logger?.info({ informer: this.#name(), resourceVersion: this.#resourceVersion }, 'watch resourceVersion too old (410 Gone); relisting');
            this.#resourceVersion = undefined;
            this.#relistAndWatch(run);
          } else {
            this.#fail(run, Object.assign(new Error(`watch ${this.#o.path}: ERROR ${ev.code ?? '?'}: ${ev.message ?? ev.reason ?? ''}`), { code: ev.code }));
          }
          return;
        case 'invalid':
          this.#o.logger?.warn({ informer: this.#name(), why: ev.why }, 'skipped a watch line');
          return;
      }
    };
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      for (const line of lines.push(chunk)) onLine(line);
    });
    res.on('end', () => {
      for (const line of lines.end()) onLine(line);
      if (finished || !this.#current(run)) return;
      finished = true;
      // The server's timeout ended it: back from where it was.
      this.#setConnected(false);
      this.#rewatch(run);
    });
    res.on('error', (err: Error) => {
      if (finished || !this.#current(run)) return;
      finished = true;
      this.#setConnected(false);
      this.#fail(run, err);
    });
    res.on('close', () => {
      if (finished || !this.#current(run)) return;
      finished = true;
      this.#setConnected(false);
      this.#fail(run, new Error(`watch ${this.#o.path}: connection closed`));
    });
  }

  #event(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Record<string, unknown>, resourceVersion: string | undefined): void {
    if (resourceVersion !== undefined) this.#resourceVersion = resourceVersion;
    const m = metaOf(obj);
    const key = storeKey(m.namespace, m.name);
    if (type === 'DELETED') {
      const gone = this.#store.delete(key);
      const last = this.#o.project(obj) ?? gone?.obj;
      if (last !== undefined) this.#emit('delete', last);
      return;
    }
    const projected = this.#o.project(obj);
    if (projected === undefined) {
      // Projected away now (e.g. no longer of interest): gone for the consumer.
      const gone = this.#store.delete(key);
      if (gone !== undefined) this.#emit('delete', gone.obj);
      return;
    }
    const applied = this.#store.apply(key, projected, resourceVersion);
    if (applied !== 'same') this.#emit(applied, projected);
  }

  #rewatch(run: number): void {
    clearTimeout(this.#silentTimer);
    this.#openWatch(run).catch((err: unknown) => {
      if (!this.#current(run)) return;
      if (apiCode(err) === 410) {
        this.#resourceVersion = undefined;
        this.#relistAndWatch(run);
      } else {
        this.#fail(run, err);
      }
    });
  }

  #relistAndWatch(run: number): void {
    clearTimeout(this.#silentTimer);
    this.#relist(run)
      .then(() => (this.#current(run) ? this.#openWatch(run) : undefined))
      .catch((err: unknown) => this.#fail(run, err));
  }
}
