// A small API server over HTTP speaking the list/watch protocol for one collection, for
// informer tests: paginated lists (`limit`, `continue`, an HTTP 410 on an expired continue
// token), chunked watch streams from a resourceVersion (events after it, BOOKMARKs, an ERROR
// event with code 410 when it is older than the history kept), and the server ending a watch
// at its timeout. The test changes objects with put/remove and can silence or cut the watches.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

type Obj = { metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string } } & Record<string, unknown>;

interface Change {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
}

const keyOf = (o: Obj) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class ListWatchApi {
  readonly #server = http.createServer((req, res) => this.#serve(req, res));
  readonly #sockets = new Set<Socket>();
  readonly #watches = new Set<{ res: http.ServerResponse; silent: boolean }>();
  readonly #objects = new Map<string, Obj>();
  /** Changes still replayable to a watch; older ones answer 410. */
  #history: Change[] = [];
  #rv = 100;
  /** Watches older than this rv get ERROR 410. */
  #oldestRv = 100;
  /** Continue tokens issued before this rv answer HTTP 410. */
  #continueValidFrom = 0;
  port = 0;
  readonly path: string;
  /** Requests seen, for assertions: list pages and watch opens. */
  readonly seen = { pages: 0, watches: 0, limits: [] as string[] };
  /** New watches are accepted but never written to (a connection that died without a FIN). */
  silenceNewWatches = false;
  /** A watch from an expired resourceVersion is refused with HTTP 410 instead of an ERROR event. */
  goneAsHttp = false;
  /** Called after each list page is served (a test compacts here to expire the continue token). */
  afterPage: ((pagesServed: number) => void) | undefined;

  constructor(path: string) {
    this.path = path;
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  get resourceVersion(): string {
    return String(this.#rv);
  }

  async listen(port = 0): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(port, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  kubeconfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${this.port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
      currentContext: 'c',
    });
    return kc;
  }

  /** Creates or replaces an object (ADDED or MODIFIED to every watch). */
  put(o: Obj): void {
    const rv = ++this.#rv;
    const object = structuredClone({ ...o, metadata: { ...o.metadata, resourceVersion: String(rv) } });
    const type = this.#objects.has(keyOf(object)) ? 'MODIFIED' : 'ADDED';
    this.#objects.set(keyOf(object), object);
    this.#record({ rv, type, object });
  }

  remove(namespace: string, name: string): void {
    const old = this.#objects.get(`${namespace}/${name}`);
    if (!old) return;
    const rv = ++this.#rv;
    this.#objects.delete(keyOf(old));
    this.#record({ rv, type: 'DELETED', object: { ...old, metadata: { ...old.metadata, resourceVersion: String(rv) } } });
  }

  /** Changes the store without telling any watch, as if they happened while the watch was away. */
  putQuietly(o: Obj): void {
    const rv = ++this.#rv;
    this.#objects.set(keyOf(o), structuredClone({ ...o, metadata: { ...o.metadata, resourceVersion: String(rv) } }));
    this.#history.push({ rv, type: 'ADDED', object: this.#objects.get(keyOf(o))! });
  }

  removeQuietly(namespace: string, name: string): void {
    const old = this.#objects.get(`${namespace}/${name}`);
    if (!old) return;
    const rv = ++this.#rv;
    this.#objects.delete(keyOf(old));
    this.#history.push({ rv, type: 'DELETED', object: { ...old, metadata: { ...old.metadata, resourceVersion: String(rv) } } });
  }

  /** Forgets the history (compaction): watches from before now answer ERROR 410, and so do continue tokens. */
  compact(): void {
    this.#history = [];
    this.#oldestRv = this.#rv;
    this.#continueValidFrom = this.#rv;
  }

  /** Sends each open watch an ERROR 410 event and ends it, as the API server does when its watch cache moved past it. */
  expireWatches(): void {
    this.compact();
    for (const w of this.#watches) {
      w.res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' } }) + '\n');
    }
  }

  bookmark(): void {
    for (const w of this.#watches) if (!w.silent) w.res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(this.#rv) } } }) + '\n');
  }

  /** Ends every watch normally (the server's timeoutSeconds). */
  endWatches(): void {
    for (const w of this.#watches) w.res.end();
  }

  openWatches(): number {
    return this.#watches.size;
  }

  /** The objects as a fresh list would give them (namespace/name -> object). */
  snapshot(): Map<string, Obj> {
    return new Map([...this.#objects].map(([k, v]) => [k, structuredClone(v)]));
  }

  #record(change: Change): void {
    this.#history.push(change);
    // Keep a bounded history, as etcd compaction does.
    if (this.#history.length > 50_000) {
      this.#history.splice(0, this.#history.length - 50_000);
      this.#oldestRv = this.#history[0]!.rv - 1;
    }
    const line = JSON.stringify({ type: change.type, object: change.object }) + '\n';
    for (const w of this.#watches) if (!w.silent) w.res.write(line);
  }

  #serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== this.path) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 404, message: 'not found' }));
      return;
    }
    if (url.searchParams.get('watch') === 'true') this.#watch(url, res);
    else this.#list(url, res);
  }

  #list(url: URL, res: http.ServerResponse): void {
    this.seen.pages++;
    this.seen.limits.push(url.searchParams.get('limit') ?? '');
    const limit = Number(url.searchParams.get('limit') ?? '0') || Infinity;
    const token = url.searchParams.get('continue');
    let start = 0;
    let listRv = this.#rv;
    if (token) {
      const t = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { rv: number; start: number };
      if (t.rv < this.#continueValidFrom) {
        res.writeHead(410, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'The provided continue parameter is too old' }));
        return;
      }
      start = t.start;
      listRv = t.rv;
    }
    // Sorted by key, as etcd lists; a page continues after the last key served.
    const keys = [...this.#objects.keys()].sort();
    const page = keys.slice(start, start + limit).map((k) => this.#objects.get(k));
    const more = start + limit < keys.length;
    const metadata: Record<string, string> = { resourceVersion: String(listRv) };
    if (more) metadata.continue = Buffer.from(JSON.stringify({ rv: listRv, start: start + limit })).toString('base64');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'List', metadata, items: page }));
    this.afterPage?.(this.seen.pages);
  }

  #watch(url: URL, res: http.ServerResponse): void {
    this.seen.watches++;
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (from < this.#oldestRv && this.goneAsHttp) {
      res.writeHead(410, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (from < this.#oldestRv) {
      res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: `too old resource version: ${from} (${this.#oldestRv})` } }) + '\n');
      return;
    }
    const w = { res, silent: this.silenceNewWatches };
    this.#watches.add(w);
    res.on('close', () => this.#watches.delete(w));
    if (w.silent) return;
    for (const c of this.#history) if (c.rv > from) res.write(JSON.stringify({ type: c.type, object: c.object }) + '\n');
  }
}
