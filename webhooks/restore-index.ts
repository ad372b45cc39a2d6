// CONTRACT STUB (to be implemented): the in-memory index the webhook decides from.
// Fed by informers (webhooks/informers.ts) through the upsert/delete methods with
// objects already trimmed to the fields the decision reads; read by decide().
// Nothing here does I/O.
export class RestoreIndex {
  upsert(_kind: IndexedKind, _obj: unknown): void {}
  remove(_kind: IndexedKind, _obj: unknown): void {}
  /** Number of objects indexed, by kind (for the /metrics gauge). */
  sizes(): Record<IndexedKind, number> {
    return { Checkpoint: 0, Pod: 0, Namespace: 0, CheckpointSchedule: 0, ReplicaSet: 0, Deployment: 0, StatefulSet: 0 };
  }
}

export type IndexedKind =
  | 'Checkpoint'
  | 'Pod'
  | 'Namespace'
  | 'CheckpointSchedule'
  | 'ReplicaSet'
  | 'Deployment'
  | 'StatefulSet';
