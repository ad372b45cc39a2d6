// InformerSet: routes informer events into the index, tracks "synced", restarts failed informers,
// and tells when a watch has been away longer than the bound (stale).
import type { Informer, KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../../src/log.ts';
import { InformerSet } from '../../../webhooks/informers.ts';
import type { IndexedKind } from '../../../webhooks/restore-index.ts';

type Verb = 'add' | 'update' | 'delete' | 'change' | 'error' | 'connect';

/** Plays a script of start() outcomes, like client-node's ListWatch: errors go to 'error' callbacks, start() still resolves. */
class ScriptedInformer implements Informer<KubernetesObject> {
  readonly callbacks = new Map<Verb, Array<(arg: never) => void>>();
  starts = 0;
  stops = 0;
  readonly script: Array<{ list?: object[]; error?: unknown; reject?: unknown }>;
  constructor(script: Array<{ list?: object[]; error?: unknown; reject?: unknown }>) {
    this.script = script;
  }
  on(verb: Verb, cb: (arg: never) => void): void {
    this.callbacks.set(verb, [...(this.callbacks.get(verb) ?? []), cb]);
  }
  off(): void {}
  emit(verb: Verb, arg: unknown): void {
    for (const cb of this.callbacks.get(verb) ?? []) (cb as (a: unknown) => void)(arg);
  }
  async start(): Promise<void> {
    const step = this.script[Math.min(this.starts, this.script.length - 1)]!;
    this.starts++;
    await Promise.resolve();
    if (step.reject !== undefined) throw step.reject;
    if (step.error !== undefined) {
      this.emit('error', step.error);
      return;
    }
    for (const o of step.list ?? []) this.emit('add', o);
  }
  async stop(): Promise<void> {
    this.stops++;
  }
}

function recorder() {
  const calls: Array<[string, IndexedKind, string]> = [];
  const name = (o: unknown) => (o as { metadata: { name: string } }).metadata.name;
  return {
    calls,
    upsert: (kind: IndexedKind, o: unknown) => calls.push(['upsert', kind, name(o)]),
    remove: (kind: IndexedKind, o: unknown) => calls.push(['remove', kind, name(o)]),
  };
}

const obj = (name: string) => ({ metadata: { name, namespace: 'shop' } });
const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
};

describe('InformerSet', () => {
  it('feeds add/update/delete into the index under the informer kind and is synced once every list arrived', async () => {
    const pods = new ScriptedInformer([{ list: [obj('a'), obj('b')] }]);
    const cps = new ScriptedInformer([{ list: [obj('cp')] }]);
    const index = recorder();
    const set = new InformerSet({ feeds: [{ name: 'pods', kind: 'Pod', informer: pods }, { name: 'checkpoints', kind: 'Checkpoint', informer: cps }],
      index, logger: silentLogger() });
    expect(set.unsynced()).toEqual(['pods', 'checkpoints']);
    set.start();
    await set.whenSynced();
    expect(set.synced()).toBe(true);
    pods.emit('update', obj('a'));
    pods.emit('delete', obj('b'));
    expect(index.calls).toEqual([
      ['upsert', 'Pod', 'a'], ['upsert', 'Pod', 'b'], ['upsert', 'Checkpoint', 'cp'], ['upsert', 'Pod', 'a'], ['remove', 'Pod', 'b'],
    ]);
    await set.stop();
    pods.emit('add', obj('late'));
    expect(index.calls.at(-1)).toEqual(['remove', 'Pod', 'b']);
    expect(pods.stops).toBe(1);
  });

  it('restarts an informer whose list failed, with growing delays, and is synced only after a good start', async () => {
    const failing = new ScriptedInformer([{ error: { code: 403 } }, { reject: new Error('connect ECONNREFUSED') }, { list: [obj('x')] }]);
    const index = recorder();
    const set = new InformerSet({ feeds: [{ name: 'checkpoints', kind: 'Checkpoint', informer: failing }], index,
      logger: silentLogger(), backoff: { initialMs: 20, maxMs: 1000 } });
    const t0 = Date.now();
    set.start();
    await until(() => failing.starts === 1);
    await new Promise((r) => setTimeout(r, 5));
    expect(set.synced()).toBe(false);
    await set.whenSynced();
    // Two failures: about 20 ms then 40 ms (±20 % jitter) before the third start.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(failing.starts).toBe(3);
    expect(set.synced()).toBe(true);
    expect(index.calls).toEqual([['upsert', 'Checkpoint', 'x']]);
    await set.stop();
  });

  it('restarts after a watch error once synced, staying ready, and does not restart after stop', async () => {
    const inf = new ScriptedInformer([{ list: [obj('x')] }]);
    const set = new InformerSet({ feeds: [{ name: 'pods', kind: 'Pod', informer: inf }], index: recorder(),
      logger: silentLogger(), backoff: { initialMs: 5, maxMs: 10 } });
    set.start();
    await set.whenSynced();
    inf.emit('error', new Error('watch closed with error'));
    expect(set.synced()).toBe(true);
    await until(() => inf.starts === 2);
    await set.stop();
    inf.emit('error', new Error('after stop'));
    await new Promise((r) => setTimeout(r, 30));
    expect(inf.starts).toBe(2);
  });

  it('keeps going when the index throws on one object', async () => {
    const inf = new ScriptedInformer([{ list: [obj('bad'), obj('good')] }]);
    const seen: string[] = [];
    const set = new InformerSet({ feeds: [{ name: 'pods', kind: 'Pod', informer: inf }], logger: silentLogger(), index: {
      upsert: (_k, o) => {
        const name = (o as { metadata: { name: string } }).metadata.name;
        if (name === 'bad') throw new Error('boom');
        seen.push(name);
      },
      remove: () => {},
    } });
    set.start();
    await set.whenSynced();
    expect(seen).toEqual(['good']);
    await set.stop();
  });
});

/** An informer whose every start() waits for the test: `list()` completes it, `fail()` makes it error (as ListWatch does). */
class GatedInformer implements Informer<KubernetesObject> {
  readonly callbacks = new Map<Verb, Array<(arg: never) => void>>();
  starts = 0;
  #pending: { resolve: () => void } | undefined;
  on(verb: Verb, cb: (arg: never) => void): void {
    this.callbacks.set(verb, [...(this.callbacks.get(verb) ?? []), cb]);
  }
  off(): void {}
  emit(verb: Verb, arg?: unknown): void {
    for (const cb of this.callbacks.get(verb) ?? []) (cb as (a: unknown) => void)(arg);
  }
  start(): Promise<void> {
    this.starts++;
    return new Promise((resolve) => (this.#pending = { resolve }));
  }
  async stop(): Promise<void> {}
  list(objects: object[] = []): void {
    for (const o of objects) this.emit('add', o);
    this.#pending?.resolve();
    this.#pending = undefined;
  }
  fail(err: unknown): void {
    this.emit('error', err);
    this.#pending?.resolve();
    this.#pending = undefined;
  }
}

/** What ProjectedInformer's connection signal reports, played by the test. */
class FakeConnection {
  readonly #listeners: Array<(up: boolean) => void> = [];
  onConnection(l: (up: boolean) => void): void {
    this.#listeners.push(l);
  }
  set(up: boolean): void {
    for (const l of this.#listeners) l(up);
  }
}

function captureLogger() {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, logger: createLogger('test', 'debug', { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) }) };
}

describe('InformerSet staleness (KCR_WEBHOOK_STALE_INDEX_SECONDS)', () => {
  const T0 = Date.parse('2026-11-24T06:00:00Z');

  function setUp(connections = false) {
    let nowMs = T0;
    const pods = new GatedInformer();
    const cps = new GatedInformer();
    const podConn = new FakeConnection();
    const cpConn = new FakeConnection();
    const { lines, logger } = captureLogger();
    const set = new InformerSet({
      feeds: [
        { name: 'pods', kind: 'Pod', informer: pods, ...(connections ? { connection: podConn } : {}) },
        { name: 'checkpoints', kind: 'Checkpoint', informer: cps, ...(connections ? { connection: cpConn } : {}) },
      ],
      index: recorder(), logger, backoff: { initialMs: 1, maxMs: 2 }, now: () => new Date(nowMs), staleAfterMs: 30_000,
    });
    return { set, pods, cps, podConn, cpConn, lines, advance: (s: number) => (nowMs += s * 1000) };
  }

  it('a watch error makes the index stale only after the bound; the restart that lists again makes it current', async () => {
    const { set, pods, cps, advance, lines } = setUp();
    set.start();
    pods.list();
    cps.list();
    await set.whenSynced();
    expect(set.stale()).toEqual([]);

    cps.fail(Object.assign(new Error('connect ECONNREFUSED 10.96.0.1:443'), { code: 'ECONNREFUSED' }));
    advance(30);
    expect(set.stale()).toEqual([]);
    // The restarts keep failing: the time counts from the first failure, not the last.
    await until(() => cps.starts === 2);
    cps.fail(new Error('connect ECONNREFUSED'));
    advance(1);
    expect(set.stale()).toEqual(['checkpoints']);
    expect(set.synced()).toBe(true);
    // 'connect' is only an attempt.
    cps.emit('connect');
    expect(set.stale()).toEqual(['checkpoints']);

    await until(() => cps.starts === 3);
    cps.list();
    await until(() => set.stale().length === 0);
    advance(3600);
    expect(set.stale()).toEqual([]);
    // Logged once when it went stale and once when it came back, however often it was asked.
    const said = lines.filter((l) => /restore index/.test(String(l.msg)));
    expect(said.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'restore index is stale: not ready and no restores until the watches reconnect'],
      ['info', 'restore index current again: every watch is connected'],
    ]);
    expect(said[0]).toMatchObject({ stale: [{ informer: 'checkpoints', disconnectedSeconds: 31 }], boundSeconds: 30 });
    await set.stop();
  });

  it('with a watch connection signal: a watch that ends and is back within the bound is no staleness; one away longer is, until it is back', async () => {
    const { set, pods, cps, podConn, advance } = setUp(true);
    set.start();
    pods.list();
    cps.list();
    await set.whenSynced();

    // A quiet resource's watch times out and reconnects at once.
    podConn.set(false);
    advance(1);
    podConn.set(true);
    advance(60);
    expect(set.stale()).toEqual([]);

    // An API server that stops answering: the watch ends, reconnects time out, no 'error' ever.
    podConn.set(false);
    advance(20);
    podConn.set(false);
    advance(11);
    expect(set.stale()).toEqual(['pods']);
    podConn.set(true);
    expect(set.stale()).toEqual([]);
    expect(pods.starts).toBe(1);
    await set.stop();
  });

  it('an informer that never listed is not synced, not stale', async () => {
    const { set, pods, advance } = setUp(true);
    set.start();
    pods.list();
    await until(() => set.unsynced().length === 1);
    advance(3600);
    expect(set.synced()).toBe(false);
    expect(set.unsynced()).toEqual(['checkpoints']);
    expect(set.stale()).toEqual([]);
    await set.stop();
  });
});
