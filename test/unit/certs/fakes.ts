// In-memory stand-ins for the Kubernetes API behind the certs shells. They reject
// the way client-node does: ApiException with the HTTP status in .code.
import { ApiException } from '@kubernetes/client-node';
import type { CaBundleTarget, SecretStore, StoredSecret } from '../../../certs/index.ts';

export function apiError(code: number): ApiException<unknown> {
  return new ApiException(code, `HTTP ${code}`, { kind: 'Status', code }, {});
}

export class FakeSecretStore implements SecretStore {
  secrets = new Map<string, StoredSecret>();
  writes = 0;
  #version = 0;
  /** Runs before a create/replace; lets a test simulate another replica writing first. */
  beforeWrite: ((store: FakeSecretStore) => void) | undefined;

  put(namespace: string, name: string, data: Record<string, string>): StoredSecret {
    const stored = { data: { ...data }, resourceVersion: String(++this.#version) };
    this.secrets.set(`${namespace}/${name}`, stored);
    return stored;
  }

  async get(namespace: string, name: string) {
    const s = this.secrets.get(`${namespace}/${name}`);
    return s && { data: { ...s.data }, resourceVersion: s.resourceVersion };
  }

  async create(namespace: string, name: string, data: Record<string, string>) {
    const hook = this.beforeWrite;
    this.beforeWrite = undefined;
    hook?.(this);
    if (this.secrets.has(`${namespace}/${name}`)) throw apiError(409);
    this.writes++;
    return this.put(namespace, name, data);
  }

  async replace(namespace: string, name: string, data: Record<string, string>, resourceVersion: string) {
    const hook = this.beforeWrite;
    this.beforeWrite = undefined;
    hook?.(this);
    const s = this.secrets.get(`${namespace}/${name}`);
    if (!s) throw apiError(404);
    if (s.resourceVersion !== resourceVersion) throw apiError(409);
    this.writes++;
    return this.put(namespace, name, data);
  }
}

export class FakeCaBundleTarget implements CaBundleTarget {
  configs = new Map<string, string[]>();
  patches: { name: string; caPem: string }[] = [];

  async getCaBundles(name: string) {
    const c = this.configs.get(name);
    if (!c) throw apiError(404);
    return [...c];
  }

  async patchCaBundle(name: string, caPem: string) {
    const c = this.configs.get(name);
    if (!c) throw apiError(404);
    this.patches.push({ name, caPem });
    this.configs.set(name, c.map(() => caPem));
  }
}

/** Timers fired by hand: tests see what was scheduled and when. */
export class ManualTimers {
  pending = new Map<number, { fn: () => void; ms: number }>();
  #next = 0;
  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.#next;
    this.pending.set(id, { fn, ms });
    return id;
  };
  clearTimeout = (handle: unknown): void => {
    this.pending.delete(handle as number);
  };
  /** Delays of the pending timers. */
  delays(): number[] {
    return [...this.pending.values()].map((t) => t.ms);
  }
  /** Fires the pending timers scheduled with exactly this delay; returns how many. */
  fire(ms: number): number {
    const due = [...this.pending.entries()].filter(([, t]) => t.ms === ms);
    for (const [id] of due) this.pending.delete(id);
    for (const [, t] of due) t.fn();
    return due.length;
  }
  /** Fires every pending timer once. */
  fireAll(): void {
    const due = [...this.pending.entries()];
    this.pending.clear();
    for (const [, t] of due) t.fn();
  }
}
