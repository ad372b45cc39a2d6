// Bench: the pure restore decision against a large index (10,200 Checkpoints, 3,600 pods).
// DESIGN target for the whole webhook: p99 <= 5 ms; this shows the decision's share.
// Run: node test/bench/restore-decision.bench.ts   (last line: RESULT ...)
import { performance } from 'node:perf_hooks';
import type { AdmissionRequest } from '../../webhooks/admission.ts';
import { decide } from '../../webhooks/decision.ts';
import { RestoreIndex } from '../../webhooks/restore-index.ts';

const NAMESPACES = 50;
const STATEFULSET_PODS = 23; // per namespace, identities db-0..db-22
const DEPLOYMENTS = 10; // per namespace, 6 replicas each
const CHECKPOINTS_PER_IDENTITY = 4; // retention
const CONTAINERS = ['app', 'sidecar'];
const REQUESTS = 20_000;

const heapBefore = process.memoryUsage().heapUsed;
const index = new RestoreIndex();
let checkpoints = 0;
const checkpoint = (ns: string, identity: string, container: string, podUID: string, i: number, kind: string) => {
  checkpoints++;
  index.upsert('Checkpoint', {
    apiVersion: 'checkpoint-restore.kcr.io/v1',
    kind: 'Checkpoint',
    metadata: { name: `${identity}-${container}-${i}`, namespace: ns, uid: `cp-${checkpoints}`, creationTimestamp: new Date(Date.UTC(2026, 10, 24, 0, i)).toISOString() },
    spec: {
      containerName: container, identity, podName: identity, podUID, workload: { kind, name: identity }, originalImage: `reg.example/${container}:1.0`,
      architecture: 'amd64', checkpointTimestamp: new Date(Date.UTC(2026, 10, 24, 0, i)).toISOString(), nodeName: 'node-1', sizeBytes: 1 << 20,
      checkpointData: `checkpoint-${identity}_${ns}-${container}-2026-11-24T00:0${i}:00Z.tar`,
    },
    status: { phase: 'ImageBuilt', runtimeImage: `registry.kcr/${ns}/${identity}@sha256:${'a'.repeat(64)}`, conditions: [{ type: 'Ready', status: 'True', reason: 'ImageBuilt', message: 'pushed', lastTransitionTime: '2026-11-24T00:00:00Z' }] },
  });
};

// Capable CRI-O nodes as their agents label them: restores have somewhere to go.
for (let k = 0; k < 10; k++) {
  index.upsert('Node', { metadata: { name: `node-${k}`, uid: `node-${k}`, labels: { 'kubernetes.io/arch': 'amd64', 'restore.kcr.io/runtime': 'cri-o', 'restore.kcr.io/capable': 'true' } }, spec: {} });
}
for (let n = 0; n < NAMESPACES; n++) {
  const ns = `team-${n}`;
  index.upsert('Namespace', { metadata: { name: ns, uid: `ns-${n}`, labels: { 'kcr.io/restore': 'enabled' } } });
  for (let p = 0; p < STATEFULSET_PODS; p++) {
    const name = `db-${p}`;
    // Half of the StatefulSet pods are running (their checkpoints' source is alive).
    if (p % 2 === 0) index.upsert('Pod', { metadata: { name, namespace: ns, uid: `${ns}-${name}-live` }, status: { phase: 'Running' } });
    for (const c of CONTAINERS) for (let i = 0; i < CHECKPOINTS_PER_IDENTITY; i++) checkpoint(ns, name, c, p % 2 === 0 ? `${ns}-${name}-live` : `${ns}-${name}-gone-${i}`, i, 'StatefulSet');
  }
  for (let d = 0; d < DEPLOYMENTS; d++) {
    const dep = `api-${d}`;
    index.upsert('ReplicaSet', { metadata: { name: `${dep}-hash`, namespace: ns, uid: `${ns}-${dep}-rs`, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: dep, uid: 'x', controller: true }] } });
    for (let r = 0; r < 6; r++) index.upsert('Pod', { metadata: { name: `${dep}-hash-${r}`, namespace: ns, uid: `${ns}-${dep}-${r}` }, status: { phase: 'Running' } });
    for (let i = 0; i < 2; i++) checkpoint(ns, dep, 'app', `${ns}-${dep}-${i}`, i, 'Deployment');
  }
}
const heapAfter = process.memoryUsage().heapUsed;

const stsRequest = (ns: string, name: string): AdmissionRequest => ({
  uid: 'r', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: ns, operation: 'CREATE',
  object: {
    metadata: { name, namespace: ns, labels: { app: 'db' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 's', controller: true }] },
    spec: { containers: CONTAINERS.map((c) => ({ name: c, image: `reg.example/${c}:1.0`, resources: { limits: { memory: '1Gi' } } })), restartPolicy: 'Always' },
  },
});
const depRequest = (ns: string, dep: string): AdmissionRequest => ({
  uid: 'r', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: ns, operation: 'CREATE',
  object: {
    metadata: { generateName: `${dep}-hash-`, namespace: ns, labels: { app: dep, 'pod-template-hash': 'hash' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${dep}-hash`, uid: 'rs', controller: true }] },
    spec: { containers: [{ name: 'app', image: 'reg.example/app:1.0' }] },
  },
});

const policy = { excludedNamespaces: ['kube-system', 'kcr-system'], pullSecretName: 'kcr-registry', repositories: { registry: 'registry.kcr', prefix: '' } };
const samples: number[] = [];
const reasons = new Map<string, number>();
for (let k = 0; k < REQUESTS + 2000; k++) {
  const ns = `team-${k % NAMESPACES}`;
  const request = k % 3 === 2 ? depRequest(ns, `api-${k % DEPLOYMENTS}`) : stsRequest(ns, `db-${k % STATEFULSET_PODS}`);
  const t0 = performance.now();
  const d = decide({ request, index, policy, now: new Date() });
  const dt = performance.now() - t0;
  if (k >= 2000) {
    samples.push(dt);
    reasons.set(d.reason, (reasons.get(d.reason) ?? 0) + 1);
  }
}
samples.sort((a, b) => a - b);
const pct = (p: number) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))]!;
const sizes = index.sizes();
console.log(`index: ${JSON.stringify(sizes)}; heap for the index ~${((heapAfter - heapBefore) / 1024 / 1024).toFixed(1)} MiB`);
console.log(`decisions: ${[...reasons].map(([r, n]) => `${r}=${n}`).join(' ')}`);
console.log(`RESULT decide checkpoints=${sizes.Checkpoint} n=${samples.length} p50=${pct(50).toFixed(3)}ms p99=${pct(99).toFixed(3)}ms max=${samples.at(-1)!.toFixed(3)}ms target_p99<=5ms ${pct(99) <= 5 ? 'OK' : 'SLOW'}`);
