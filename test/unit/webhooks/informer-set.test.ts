// InformerSet: routes informer events into the index, tracks "synced", restarts failed informers.
import type { Informer, KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.ts';
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
