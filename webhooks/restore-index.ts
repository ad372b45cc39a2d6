// The in-memory index the webhook decides from. Informers (webhooks/informers.ts) feed it
// full objects through upsert/remove; it trims each to the fields the decision reads
// (src/rules/indexed-objects.ts) and keeps lookup maps so one admission costs a few Map lookups,
// never a scan over all checkpoints, pods or nodes. Nothing here does I/O.
//
// Claims (src/rules/checkpoint-claim.ts): a checkpoint the webhook handed out carries a claim
// until the pod it was made for shows up here. The index remembers which claim holders it has
// seen on pods, including pods deleted since, so a claim stops binding once its pod appeared.
//
// Pins (for RestoreRequest): a Checkpoint carrying the annotation kcr.io/pinned: "true"
// (PINNED_ANNOTATION) sorts before every unpinned checkpoint of its namespace, identity and
// container; the controller sets it before recreating the pod and removes it afterwards.
import { record, str, stringMap } from '../src/rules/shape.ts';
import { compareByPreference } from '../src/rules/checkpoint-choice.ts';
import { PULL_SECRETS_RECORD, parsePullSecretRecord, pullSecretEntryUsable, type PullSecretRecord } from '../src/registry-access/pull-secret-plan.ts';
import { nodeTakesRestore, type RestoreNeed } from '../src/rules/restore-fit.ts';
import {
  trimCheckpoint,
  trimNamespace,
  trimNode,
  trimPod,
  trimReplicaSet,
  trimSchedule,
  trimWorkload,
  type IndexedCheckpoint,
  type IndexedNamespace,
  type IndexedNode,
  type IndexedPod,
  type IndexedReplicaSet,
  type IndexedSchedule,
  type IndexedWorkload,
} from '../src/rules/indexed-objects.ts';

export type IndexedKind =
  | 'Checkpoint'
  | 'Pod'
  | 'Namespace'
  | 'Node'
  /** kcr's record of the namespaces that have a kcr-pull Secret (ConfigMap kcr-pull-secrets; token mode). */
  | 'PullSecretRecord'
  | 'CheckpointSchedule'
  | 'ReplicaSet'
  | 'Deployment'
  | 'StatefulSet';

export const INDEXED_KINDS: readonly IndexedKind[] = [
  'Checkpoint',
  'Pod',
  'Namespace',
  'Node',
  'CheckpointSchedule',
  'ReplicaSet',
  'Deployment',
  'StatefulSet',
  'PullSecretRecord',
];

/** Holders of claims whose pods were deleted, remembered up to this many (oldest forgotten first). */
const GONE_HOLDERS_KEPT = 10_000;

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

  /** claim holder -> key of the indexed pod that carries it. */
  readonly #holderPods = new Map<string, string>();
  /** Holders whose pods were seen and are gone (insertion order: oldest first). */
  readonly #goneHolders = new Set<string>();

  readonly #nodes = new Map<string, IndexedNode>();
  /** Nodes that take restores now, by runtime, then architecture ('' when unlabelled). */
  readonly #restoreNodes = new Map<string, Map<string, number>>();

  readonly #namespaces = new Map<string, IndexedNamespace>();
  readonly #schedules = new Map<string, IndexedSchedule>();
  readonly #schedulesByNamespace = new Groups<IndexedSchedule>();
  readonly #replicaSets = new Map<string, IndexedReplicaSet>();
  readonly #replicaSetByName = new Map<string, string>();
  readonly #workloads = new Map<string, IndexedWorkload>();
  readonly #workloadByName = new Map<string, string>();
  #pullSecrets: PullSecretRecord = new Map();

  /** Add or replace (same uid) an object as delivered by an informer; ignores what it cannot key. */
  upsert(kind: IndexedKind, obj: unknown): void {
    switch (kind) {
      case 'Pod': {
        const pod = trimPod(obj);
        if (pod === undefined) return;
        this.#removePod(pod.key);
        this.#pods.set(pod.key, pod);
        this.#podByName.set(k2(pod.namespace, pod.name), pod.key);
        for (const cp of pod.restoredFrom) this.#restoredInto.add(k2(pod.namespace, cp), pod.key, pod);
        if (pod.claimHolder !== undefined) {
          // By namespace: a pod names only claims on its own namespace's checkpoints.
          this.#holderPods.set(k2(pod.namespace, pod.claimHolder), pod.key);
          this.#goneHolders.delete(k2(pod.namespace, pod.claimHolder));
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
      case 'Node': {
        const node = trimNode(obj);
        if (node === undefined) return;
        this.#removeNode(node.key);
        this.#nodes.set(node.key, node);
        this.#countNode(node, 1);
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
      case 'PullSecretRecord': {
        if (str(record(record(obj).metadata).name) === PULL_SECRETS_RECORD) this.#pullSecrets = parsePullSecretRecord(stringMap(record(obj).data));
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
      case 'Node': {
        const key = trimNode(obj)?.key;
        if (key !== undefined) this.#removeNode(key);
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
      case 'PullSecretRecord': {
        if (str(record(record(obj).metadata).name) === PULL_SECRETS_RECORD) this.#pullSecrets = new Map();
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

  /** Forget a Checkpoint the API server says is gone (before the informer's delete event). */
  forgetCheckpoint(namespace: string, name: string): void {
    const key = this.#checkpointByName.get(k2(namespace, name));
    if (key !== undefined) this.#removeCheckpoint(key);
  }

  /** A pod carrying this claim holder was seen (and may be gone since): the claim no longer binds. */
  holderSeen(namespace: string, holder: string): boolean {
    const key = k2(namespace, holder);
    return this.#holderPods.has(key) || this.#goneHolders.has(key);
  }

  /** kcr gave the namespace a kcr-pull Secret whose credential the token service still accepts. */
  pullSecretUsable(namespace: string, now: Date): boolean {
    const e = this.#pullSecrets.get(namespace);
    return e !== undefined && pullSecretEntryUsable(e, now);
  }

  /** A schedulable node that can restore what `need` says exists (restore.kcr.io/capable=true, the runtime, the architecture). */
  restoreNodeExists(need: RestoreNeed): boolean {
    const runtimes = need.runtime === undefined ? [...this.#restoreNodes.values()] : [this.#restoreNodes.get(need.runtime)];
    for (const byArch of runtimes) {
      for (const [arch, count] of byArch ?? []) {
        // The pod gets a kubernetes.io/arch selector when the architecture is known: an unlabelled node cannot match it.
        if (count > 0 && (need.architecture === undefined || arch === need.architecture)) return true;
      }
    }
    return false;
  }

  node(name: string): IndexedNode | undefined {
    return this.#nodes.get(name);
  }

  /** Number of objects indexed, by kind (for the /metrics gauge). */
  sizes(): Record<IndexedKind, number> {
    let deployments = 0;
    for (const w of this.#workloads.values()) if (w.kind === 'Deployment') deployments++;
    return {
      Checkpoint: this.#checkpoints.size,
      Pod: this.#pods.size,
      Namespace: this.#namespaces.size,
      Node: this.#nodes.size,
      CheckpointSchedule: this.#schedules.size,
      ReplicaSet: this.#replicaSets.size,
      Deployment: deployments,
      StatefulSet: this.#workloads.size - deployments,
      PullSecretRecord: this.#pullSecrets.size,
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
    const holder = old.claimHolder === undefined ? undefined : k2(old.namespace, old.claimHolder);
    if (holder !== undefined && this.#holderPods.get(holder) === key) {
      this.#holderPods.delete(holder);
      this.#goneHolders.add(holder);
      if (this.#goneHolders.size > GONE_HOLDERS_KEPT) this.#goneHolders.delete(this.#goneHolders.values().next().value!);
    }
  }

  #removeNode(key: string): void {
    const old = this.#nodes.get(key);
    if (old === undefined) return;
    this.#nodes.delete(key);
    this.#countNode(old, -1);
  }

  #countNode(node: IndexedNode, delta: 1 | -1): void {
    // Counted under its own runtime; a node that fits no checkpoint of its runtime is not counted.
    if (node.runtime === undefined || !nodeTakesRestore(node, { runtime: node.runtime, architecture: undefined })) return;
    let byArch = this.#restoreNodes.get(node.runtime);
    if (byArch === undefined) this.#restoreNodes.set(node.runtime, (byArch = new Map()));
    const arch = node.architecture ?? '';
    const count = (byArch.get(arch) ?? 0) + delta;
    if (count > 0) byArch.set(arch, count);
    else byArch.delete(arch);
    if (byArch.size === 0) this.#restoreNodes.delete(node.runtime);
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
