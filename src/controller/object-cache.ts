// The controller's view of the cluster: the objects its informers delivered, by kind and
// namespace/name, in wire form. Reads never call the API server. Every change bumps a counter
// and calls `onChange`, which the controller uses to run a reconcile pass soon.

export type CachedKind =
  | 'CheckpointSchedule' | 'Deployment' | 'StatefulSet' | 'Pod' | 'CheckpointRequest' | 'Checkpoint' | 'RestoreRequest'
  // Cluster-scoped: kept whatever the namespaces filter says (a Namespace is keyed by its name).
  | 'Namespace' | 'Node';

const CLUSTER_SCOPED: ReadonlySet<string> = new Set(['Namespace', 'Node']);

export interface Meta {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
}

export function objectKey(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}

export class ObjectCache {
  readonly #byKind = new Map<CachedKind, Map<string, unknown>>();
  #onChange: (kind: CachedKind) => void;
  readonly #namespaces: ReadonlySet<string> | undefined;

  /** `namespaces`: only objects in these are kept (a controller limited to some namespaces); undefined: all. */
  constructor(options: { onChange?: (kind: CachedKind) => void; namespaces?: readonly string[] | undefined } = {}) {
    this.#onChange = options.onChange ?? (() => {});
    this.#namespaces = options.namespaces && options.namespaces.length > 0 ? new Set(options.namespaces) : undefined;
  }

  setOnChange(onChange: (kind: CachedKind) => void): void {
    this.#onChange = onChange;
  }

  #map(kind: CachedKind): Map<string, unknown> {
    let m = this.#byKind.get(kind);
    if (!m) {
      m = new Map();
      this.#byKind.set(kind, m);
    }
    return m;
  }

  upsert(kind: string, obj: unknown): void {
    const meta = (obj as Meta).metadata;
    if (this.#namespaces && !CLUSTER_SCOPED.has(kind) && !this.#namespaces.has(meta?.namespace ?? '')) return;
    this.#map(kind as CachedKind).set(objectKey(meta?.namespace, meta?.name), obj);
    this.#onChange(kind as CachedKind);
  }

  remove(kind: string, obj: unknown): void {
    const meta = (obj as Meta).metadata;
    this.#map(kind as CachedKind).delete(objectKey(meta?.namespace, meta?.name));
    this.#onChange(kind as CachedKind);
  }

  get<T>(kind: CachedKind, namespace: string, name: string): T | undefined {
    return this.#map(kind).get(objectKey(namespace, name)) as T | undefined;
  }

  list<T>(kind: CachedKind, namespace?: string): T[] {
    const all = [...this.#map(kind).values()] as T[];
    if (namespace === undefined) return all;
    return all.filter((o) => (o as Meta).metadata?.namespace === namespace);
  }
}
