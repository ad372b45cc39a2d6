// Builders for the objects informers hand the RestoreIndex, and the AdmissionReview fixtures.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AdmissionRequest, AdmissionReview } from '../../../webhooks/admission.ts';
import type { Checkpoint, CheckpointSchedule } from '../../../src/api/types.ts';
import { RestoreIndex, type IndexedKind } from '../../../webhooks/restore-index.ts';

const FIXTURES = fileURLToPath(new URL('../../fixtures/admission/', import.meta.url));

/** A fixture's AdmissionRequest, parsed fresh on every call so tests may modify it. */
export function fixture(name: string): AdmissionRequest {
  const review = JSON.parse(readFileSync(`${FIXTURES}${name}.json`, 'utf8')) as AdmissionReview;
  if (review.request === undefined) throw new Error(`fixture ${name} has no request`);
  return review.request;
}

/** The pod object of a fixture request, typed loosely for edits. */
export interface PodJson {
  metadata: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: { name: string; image: string }[]; nodeSelector?: Record<string, string> };
}
export const podOf = (req: AdmissionRequest): PodJson => req.object as PodJson;

export const digest = (c: string): string => `sha256:${c.repeat(64).slice(0, 64)}`;
export const runtimeImage = (name: string, ns = 'shop'): string => `registry.kcr.example/${ns}/${name}@${digest(name.length.toString(16))}`;
/** Where the builders' checkpoint images live (the decision's policy.repositories). */
export const REPOSITORIES = { registry: 'registry.kcr.example', prefix: '' };

let counter = 0;

export interface CheckpointOptions {
  name: string;
  namespace?: string;
  identity?: string;
  container?: string;
  podName?: string;
  podUID?: string;
  workloadKind?: string;
  originalImage?: string;
  originalImageDigest?: string;
  architecture?: string;
  takenAt?: string;
  createdAt?: string;
  phase?: 'Created' | 'Processing' | 'ImageBuilt' | 'Failed';
  runtimeImage?: string | null;
  bad?: boolean;
  pinned?: boolean;
  /** spec.runtime.name: the runtime that wrote the archive. */
  runtime?: string;
}

/** A Checkpoint as the informer delivers it (plain JSON, timestamps as strings). */
export function checkpoint(o: CheckpointOptions): Checkpoint {
  counter++;
  const cp: Checkpoint = {
    apiVersion: 'checkpoint-restore.kcr.io/v1',
    kind: 'Checkpoint',
    metadata: {
      name: o.name,
      namespace: o.namespace ?? 'shop',
      uid: `cp-uid-${o.name}-${counter}`,
      creationTimestamp: o.createdAt ?? '2026-11-24T06:00:00Z',
      ...(o.pinned ? { annotations: { 'kcr.io/pinned': 'true' } } : {}),
    },
    spec: {
      containerName: o.container ?? 'app',
      checkpointTimestamp: o.takenAt ?? '2026-11-24T06:00:00Z',
      ...(o.identity !== undefined ? { identity: o.identity } : {}),
      ...(o.podName !== undefined ? { podName: o.podName } : {}),
      ...(o.podUID !== undefined ? { podUID: o.podUID } : {}),
      ...(o.workloadKind !== undefined ? { workload: { kind: o.workloadKind, name: o.identity ?? '' } } : {}),
      ...(o.originalImage !== undefined ? { originalImage: o.originalImage } : {}),
      ...(o.originalImageDigest !== undefined ? { originalImageDigest: o.originalImageDigest } : {}),
      ...(o.architecture !== undefined ? { architecture: o.architecture } : {}),
      ...(o.runtime !== undefined ? { runtime: { name: o.runtime, version: '1.34.0' } } : {}),
      nodeName: 'node-1',
    },
    status: {
      phase: o.phase ?? 'ImageBuilt',
      ...(o.runtimeImage === null ? {} : { runtimeImage: o.runtimeImage ?? runtimeImage(o.name, o.namespace ?? 'shop') }),
      ...(o.bad ? { bad: true, badReason: 'container never started' } : {}),
    },
  };
  return cp;
}

export interface PodOptions {
  name: string;
  uid: string;
  namespace?: string;
  terminating?: boolean;
  phase?: string;
  annotations?: Record<string, string>;
}

/** A pod as the client-node informer delivers it: Date objects for timestamps. */
export function livePod(o: PodOptions): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: o.name,
      namespace: o.namespace ?? 'shop',
      uid: o.uid,
      creationTimestamp: new Date('2026-11-24T05:00:00Z'),
      ...(o.terminating ? { deletionTimestamp: new Date('2026-11-24T07:00:00Z'), deletionGracePeriodSeconds: 30 } : {}),
      ...(o.annotations ? { annotations: o.annotations } : {}),
      labels: { app: 'x' },
      managedFields: [{ manager: 'kubelet', operation: 'Update' }],
    },
    spec: { containers: [{ name: 'app', image: 'whatever', env: [{ name: 'A', value: 'b' }] }], nodeName: 'node-1' },
    status: { phase: o.phase ?? 'Running', podIP: '10.0.0.7', containerStatuses: [{ name: 'app', ready: true }] },
  };
}

export function namespace(name: string, labels: Record<string, string> = {}): object {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, uid: `ns-${name}`, labels: { 'kubernetes.io/metadata.name': name, ...labels } } };
}

export function schedule(name: string, ns: string, selector: CheckpointSchedule['spec']['selector'], mode?: 'Replacement' | 'Never'): CheckpointSchedule {
  return {
    apiVersion: 'checkpoint-restore.kcr.io/v1',
    kind: 'CheckpointSchedule',
    metadata: { name, namespace: ns, uid: `sched-${ns}-${name}` },
    spec: { schedule: '*/5 * * * *', selector, ...(mode ? { restore: { mode } } : {}) },
  };
}

export function replicaSet(name: string, ns: string, deployment: string | undefined): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name,
      namespace: ns,
      uid: `rs-${ns}-${name}`,
      ...(deployment ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment, uid: `dep-${deployment}`, controller: true }] } : {}),
    },
    spec: { replicas: 2, selector: { matchLabels: { app: 'api' } }, template: { metadata: {}, spec: { containers: [] } } },
  };
}

export function workload(kind: 'Deployment' | 'StatefulSet', name: string, ns: string, cron?: string): object {
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name, namespace: ns, uid: `${kind}-${ns}-${name}`, ...(cron ? { annotations: { 'kcr.io/checkpoint-restore-schedule': cron } } : {}) },
    spec: { replicas: 1 },
  };
}

export interface NodeOptions {
  runtime?: string | undefined;
  capable?: string | undefined;
  arch?: string | undefined;
  unschedulable?: boolean;
}

/** A Node as its agent labelled it (restore.kcr.io/runtime, restore.kcr.io/capable). */
export function node(name: string, o: NodeOptions = {}): object {
  const labels: Record<string, string> = { 'kubernetes.io/hostname': name };
  if (o.arch !== undefined) labels['kubernetes.io/arch'] = o.arch;
  if (o.runtime !== undefined) labels['restore.kcr.io/runtime'] = o.runtime;
  if (o.capable !== undefined) labels['restore.kcr.io/capable'] = o.capable;
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, uid: `node-${name}`, labels }, spec: o.unschedulable ? { unschedulable: true } : {} };
}

/** Capable CRI-O nodes of both architectures the fixtures use: restores are placed unless a test says otherwise. */
export const DEFAULT_NODES: [IndexedKind, unknown][] = [
  ['Node', node('node-amd64', { runtime: 'cri-o', capable: 'true', arch: 'amd64' })],
  ['Node', node('node-arm64', { runtime: 'cri-o', capable: 'true', arch: 'arm64' })],
];

/** An index of the entries; with DEFAULT_NODES unless the entries bring their own nodes. */
export function indexOf(entries: [IndexedKind, unknown][]): RestoreIndex {
  const index = new RestoreIndex();
  const withNodes = entries.some(([kind]) => kind === 'Node') ? entries : [...DEFAULT_NODES, ...entries];
  for (const [kind, obj] of withNodes) index.upsert(kind, obj);
  return index;
}
