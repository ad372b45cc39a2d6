// The in-memory index the webhook decides from. Informers (webhooks/informers.ts) feed it
// full objects through upsert/remove; it trims each to the fields the decision reads
// (webhooks/trim.ts) and keeps lookup maps so one admission costs a few Map lookups,
// never a scan over all checkpoints or pods. Nothing here does I/O.
//
// Reservations: two replacement pods admitted within the informer's lag (a node dies, the
// ReplicaSet recreates all its pods at once) would both see the newest checkpoint as free.
// After answering with a patch the server calls noteRestore(decision, now); until the
// informer delivers the restored pod (or the reservation expires) decide() treats those
// checkpoints as in use. It covers one webhook replica; replicas do not share it.
//
// Pins (for RestoreRequest): a Checkpoint carrying the annotation kcr.io/pinned: "true"
// (PINNED_ANNOTATION) sorts before every unpinned checkpoint of its namespace, identity and
// container; the controller sets it before recreating the pod and removes it afterwards.
import { compareByPreference } from '../src/rules/checkpoint-choice.ts';
import {
  trimCheckpoint,
  trimNamespace,
  trimPod,
  trimReplicaSet,
  trimSchedule,
  trimWorkload,
  type IndexedCheckpoint,
  type IndexedNamespace,
  type IndexedPod,
  type IndexedReplicaSet,
  type IndexedSchedule,
  type IndexedWorkload,
} from '../src/rules/indexed-objects.ts';

export type IndexedKind =
  | 'Checkpoint'
  | 'Pod'
  | 'Namespace'
  | 'CheckpointSchedule'
  | 'ReplicaSet'
  | 'Deployment'
  | 'StatefulSet';

export const INDEXED_KINDS: readonly IndexedKind[] = [
  'Checkpoint',
  'Pod',
  'Namespace',
  'CheckpointSchedule',
  'ReplicaSet',
  'Deployment',
  'StatefulSet',
];

/** What noteRestore needs from a Decision (structural, so this file does not import decision.ts). */
export type RestoreNote =
  | { kind: 'patch'; namespace: string; podName: string | undefined; restored: readonly { checkpoint: string }[] }
  | { kind: 'unchanged' };

interface Reservation {
  pod: string | undefined;
  untilMs: number;
}

const SEP = '\u0000';
const k2 = (a: string, b: string): string => `${a}${SEP}${b}`;
const k3 = (a: string, b: string, c: string): string => `${a}${SEP}${b}${SEP}${c}`;

/** A multimap Map<group, Map<key, value>> that drops empty groups. */
class Groups<V> {
  readonly map = new Map<string, Map<string, V>>();
  add(group: string, key: string, value: V): void {
    let g = this.map.get(group);
    if (g === undefined) this.map.set(group, (g = new Map()));
    g.set(key, value);
  }
  delete(group: string, key: string): void {
    const g = this.map.get(group);
    if (g === undefined) return;
    g.delete(key);
    if (g.size === 0) this.map.delete(group);
  }
  get(group: string): ReadonlyMap<string, V> | undefined {
    return this.map.get(group);
  }
}

export class RestoreIndex {
  readonly #pods = new Map<string, IndexedPod>();
  readonly #podByName = new Map<string, string>();
  /** namespace+checkpoint name -> keys of pods annotated as restored from it. */
  readonly #restoredInto = new Groups<IndexedPod>();

  readonly #checkpoints = new Map<string, IndexedCheckpoint>();
  readonly #checkpointByName = new Map<string, string>();
  /** namespace+identity+container -> checkpoints. */
  readonly #candidates = new Groups<IndexedCheckpoint>();
  /** Sorted view of a candidates group, rebuilt lazily after a change to that group. */
  readonly #sorted = new Map<string, IndexedCheckpoint[]>();

  /** namespace+checkpoint name -> restore decided here, not yet seen through the informer. */
  readonly #reserved = new Map<string, Reservation>();

  readonly #namespaces = new Map<string, IndexedNamespace>();
  readonly #schedules = new Map<string, IndexedSchedule>();
  readonly #schedulesByNamespace = new Groups<IndexedSchedule>();
  readonly #replicaSets = new Map<string, IndexedReplicaSet>();
  readonly #replicaSetByName = new Map<string, string>();
  readonly #workloads = new Map<string, IndexedWorkload>();
  readonly #workloadByName = new Map<string, string>();

  /** Add or replace (same uid) an object as delivered by an informer; ignores what it cannot key. */
  upsert(kind: IndexedKind, obj: unknown): void {
    switch (kind) {
      case 'Pod': {
        const pod = trimPod(obj);
        if (pod === undefined) return;
        this.#removePod(pod.key);
        this.#pods.set(pod.key, pod);
        this.#podByName.set(k2(pod.namespace, pod.name), pod.key);
        for (const cp of pod.restoredFrom) {
          this.#restoredInto.add(k2(pod.namespace, cp), pod.key, pod);
          // The informer now shows the restored pod: its liveness decides from here on.
          this.#reserved.delete(k2(pod.namespace, cp));
        }
        return;
      }
      case 'Checkpoint': {
        const cp = trimCheckpoint(obj);
        if (cp === undefined) return;
        this.#removeCheckpoint(cp.key);
        this.#checkpoints.set(cp.key, cp);
        this.#checkpointByName.set(k2(cp.namespace, cp.name), cp.key);
        if (cp.identity !== undefined) {
          const group = k3(cp.namespace, cp.identity, cp.container);
          this.#candidates.add(group, cp.key, cp);
          this.#sorted.delete(group);
        }
        return;
      }
      case 'Namespace': {
        const ns = trimNamespace(obj);
        if (ns !== undefined) this.#namespaces.set(ns.key, ns);
        return;
      }
      case 'CheckpointSchedule': {
        const s = trimSchedule(obj);
        if (s === undefined) return;
        this.#removeSchedule(s.key);
        this.#schedules.set(s.key, s);
        this.#schedulesByNamespace.add(s.namespace, s.key, s);
        return;
      }
      case 'ReplicaSet': {
        const rs = trimReplicaSet(obj);
        if (rs === undefined) return;
        this.#removeReplicaSet(rs.key);
        this.#replicaSets.set(rs.key, rs);
        this.#replicaSetByName.set(k2(rs.namespace, rs.name), rs.key);
        return;
      }
      case 'Deployment':
      case 'StatefulSet': {
        const w = trimWorkload(kind, obj);
        if (w === undefined) return;
        this.#removeWorkload(w.key);
        this.#workloads.set(w.key, w);
        this.#workloadByName.set(k3(kind, w.namespace, w.name), w.key);
        return;
      }
    }
  }

  /** Forget an object (informer delete event; the last known state is enough). */
  remove(kind: IndexedKind, obj: unknown): void {
    switch (kind) {
      case 'Pod': {
        const key = trimPod(obj)?.key;
        if (key !== undefined) this.#removePod(key);
        return;
      }
      case 'Checkpoint': {
        const key = trimCheckpoint(obj)?.key;
        if (key !== undefined) this.#removeCheckpoint(key);
        return;
      }
      case 'Namespace': {
        const key = trimNamespace(obj)?.key;
        if (key !== undefined) this.#namespaces.delete(key);
        return;
      }
      case 'CheckpointSchedule': {
        const key = trimSchedule(obj)?.key;
        if (key !== undefined) this.#removeSchedule(key);
        return;
      }
      case 'ReplicaSet': {
        const key = trimReplicaSet(obj)?.key;
        if (key !== undefined) this.#removeReplicaSet(key);
        return;
      }
      case 'Deployment':
      case 'StatefulSet': {
        const key = trimWorkload(kind, obj)?.key;
        if (key !== undefined) this.#removeWorkload(key);
        return;
      }
    }
  }

  /**
   * Remember the checkpoints a patch decision restores (no-op for other decisions) for
   * ttlMs or until the informer delivers a pod annotated with them.
   */
  noteRestore(decision: RestoreNote, now: Date, ttlMs = 60_000): void {
    const nowMs = now.getTime();
    for (const [key, r] of this.#reserved) if (r.untilMs <= nowMs) this.#reserved.delete(key);
    if (decision.kind !== 'patch') return;
    for (const r of decision.restored) {
      this.#reserved.set(k2(decision.namespace, r.checkpoint), { pod: decision.podName, untilMs: nowMs + ttlMs });
    }
  }

  /** A restore from this checkpoint was decided for another pod and is not visible in the index yet. */
  reservedForOther(namespace: string, checkpoint: string, podName: string | undefined, now: Date): boolean {
    const r = this.#reserved.get(k2(namespace, checkpoint));
    if (r === undefined || r.untilMs <= now.getTime()) return false;
    // The same named pod again (an API server retry of a StatefulSet pod) may take it.
    return podName === undefined || r.pod !== podName;
  }

  /** Number of objects indexed, by kind (for the /metrics gauge). */
  sizes(): Record<IndexedKind, number> {
    let deployments = 0;
    for (const w of this.#workloads.values()) if (w.kind === 'Deployment') deployments++;
    return {
      Checkpoint: this.#checkpoints.size,
      Pod: this.#pods.size,
      Namespace: this.#namespaces.size,
      CheckpointSchedule: this.#schedules.size,
      ReplicaSet: this.#replicaSets.size,
      Deployment: deployments,
      StatefulSet: this.#workloads.size - deployments,
    };
  }

  // ---------- reads (used by decide) ----------

  /** Checkpoints of one namespace, identity and container; pinned first, then newest first. */
  checkpointsFor(namespace: string, identity: string, container: string): readonly IndexedCheckpoint[] {
    const group = k3(namespace, identity, container);
    const cached = this.#sorted.get(group);
    if (cached !== undefined) return cached;
    const members = this.#candidates.get(group);
    if (members === undefined) return [];
    const sorted = [...members.values()].sort(compareByPreference);
    this.#sorted.set(group, sorted);
    return sorted;
  }

  checkpoint(namespace: string, name: string): IndexedCheckpoint | undefined {
    const key = this.#checkpointByName.get(k2(namespace, name));
    return key === undefined ? undefined : this.#checkpoints.get(key);
  }

  podByUid(uid: string): IndexedPod | undefined {
    return this.#pods.get(uid);
  }

  podByName(namespace: string, name: string): IndexedPod | undefined {
    const key = this.#podByName.get(k2(namespace, name));
    return key === undefined ? undefined : this.#pods.get(key);
  }

  /** Indexed pods annotated as restored from this checkpoint (living or not). */
  podsRestoredFrom(namespace: string, checkpointName: string): Iterable<IndexedPod> {
    return this.#restoredInto.get(k2(namespace, checkpointName))?.values() ?? [];
  }

  namespace(name: string): IndexedNamespace | undefined {
    return this.#namespaces.get(name);
  }

  schedulesIn(namespace: string): Iterable<IndexedSchedule> {
    return this.#schedulesByNamespace.get(namespace)?.values() ?? [];
  }

  replicaSet(namespace: string, name: string): IndexedReplicaSet | undefined {
    const key = this.#replicaSetByName.get(k2(namespace, name));
    return key === undefined ? undefined : this.#replicaSets.get(key);
  }

  workload(kind: 'Deployment' | 'StatefulSet', namespace: string, name: string): IndexedWorkload | undefined {
    const key = this.#workloadByName.get(k3(kind, namespace, name));
    return key === undefined ? undefined : this.#workloads.get(key);
  }

  // ---------- removal keeping secondary maps consistent ----------

  #removePod(key: string): void {
    const old = this.#pods.get(key);
    if (old === undefined) return;
    this.#pods.delete(key);
    const byName = k2(old.namespace, old.name);
    if (this.#podByName.get(byName) === key) this.#podByName.delete(byName);
    for (const cp of old.restoredFrom) this.#restoredInto.delete(k2(old.namespace, cp), key);
  }

  #removeCheckpoint(key: string): void {
    const old = this.#checkpoints.get(key);
    if (old === undefined) return;
    this.#checkpoints.delete(key);
    const byName = k2(old.namespace, old.name);
    if (this.#checkpointByName.get(byName) === key) this.#checkpointByName.delete(byName);
    if (old.identity !== undefined) {
      const group = k3(old.namespace, old.identity, old.container);
      this.#candidates.delete(group, key);
      this.#sorted.delete(group);
    }
  }

  #removeSchedule(key: string): void {
    const old = this.#schedules.get(key);
    if (old === undefined) return;
    this.#schedules.delete(key);
    this.#schedulesByNamespace.delete(old.namespace, key);
  }

  #removeReplicaSet(key: string): void {
    const old = this.#replicaSets.get(key);
    if (old === undefined) return;
    this.#replicaSets.delete(key);
    const byName = k2(old.namespace, old.name);
    if (this.#replicaSetByName.get(byName) === key) this.#replicaSetByName.delete(byName);
  }

  #removeWorkload(key: string): void {
    const old = this.#workloads.get(key);
    if (old === undefined) return;
    this.#workloads.delete(key);
    const byName = k3(old.kind, old.namespace, old.name);
    if (this.#workloadByName.get(byName) === key) this.#workloadByName.delete(byName);
  }
}
