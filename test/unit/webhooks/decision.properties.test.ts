// Properties of the restore decision over generated indexes, nodes and pods: idempotent patches,
// no checkpoint ever crosses a namespace, no restore is placed on a node that cannot restore it,
// and no input shape makes it throw.
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../../webhooks/admission.ts';
import { decide, REASONS } from '../../../webhooks/decision.ts';
import { INDEX_PROJECTIONS } from '../../../webhooks/index-projections.ts';
import { RestoreIndex } from '../../../webhooks/restore-index.ts';
import { checkpoint, livePod, namespace, node } from './builders.ts';

const NOW = new Date('2026-11-24T08:00:00Z');
const NAMESPACES = ['shop', 'staging', 'lab'] as const;
const IDENTITIES = ['db-0', 'db-1'] as const;
const CONTAINERS = ['app', 'cache', 'envoy'] as const;
// img:1 repeated: most generated pods and checkpoints agree on the image, so patches happen often.
const IMAGES = ['img:1', 'img:1', 'img:2', `reg.example/img@sha256:${'c'.repeat(64)}`] as const;
const ARCHES = [undefined, 'amd64', 'arm64'] as const;
const RUNTIMES = [undefined, 'cri-o', 'cri-o', 'containerd'] as const;

/** True about once in n. */
const rarely = (n: number) => fc.integer({ min: 1, max: n }).map((x) => x === 1);

/** Checkpoints biased toward the admitted pod's namespace and identity, with the others mixed in. */
const cpArb = (ns: string, identity: string, container: string) => fc.record({
  ns: fc.constantFrom(ns, ns, ...NAMESPACES),
  identity: fc.constantFrom(identity, ...IDENTITIES),
  container: fc.constantFrom(container, ...CONTAINERS),
  image: fc.constantFrom(...IMAGES),
  withDigest: fc.boolean(),
  arch: fc.constantFrom(...ARCHES),
  runtime: fc.constantFrom(...RUNTIMES),
  takenMinute: fc.integer({ min: 0, max: 30 }),
  phase: fc.constantFrom('ImageBuilt', 'ImageBuilt', 'ImageBuilt', 'Processing' as const),
  bad: rarely(5),
  pinned: rarely(8),
  source: fc.integer({ min: 0, max: 6 }),
});

const livePodArb = fc.record({
  source: fc.integer({ min: 0, max: 6 }),
  ns: fc.constantFrom(...NAMESPACES),
  name: fc.constantFrom(...IDENTITIES),
  terminating: fc.boolean(),
  failed: rarely(6),
  restoredFrom: fc.option(fc.nat({ max: 40 }), { nil: undefined }),
  container: fc.constantFrom(...CONTAINERS),
});

const admittedArb = fc.record({
  ns: fc.constantFrom(...NAMESPACES),
  identity: fc.constantFrom(...IDENTITIES),
  containers: fc.uniqueArray(fc.record({ name: fc.constantFrom(...CONTAINERS), image: fc.constantFrom(...IMAGES) }), {
    minLength: 1,
    maxLength: 3,
    selector: (c) => c.name,
  }),
  arch: fc.constantFrom(...ARCHES),
  viaNamespaceLabel: fc.boolean(),
  statefulSet: fc.boolean(),
  ownSecrets: fc.boolean(),
  extraAnnotations: fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
  extraSpec: fc.dictionary(fc.constantFrom('hostname', 'priority', 'tolerations', 'volumes', 'x'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
});

const scenarioArb = admittedArb.chain((admitted) =>
  fc.record({
    checkpoints: fc.array(cpArb(admitted.ns, admitted.identity, admitted.containers[0]!.name), { minLength: 3, maxLength: 40, size: 'medium' }),
    pods: fc.array(livePodArb, { maxLength: 6 }),
    // Mostly capable CRI-O nodes, so restores happen; every other mix appears too.
    nodes: fc.array(fc.record({
      runtime: fc.constantFrom(...RUNTIMES, 'cri-o'),
      capable: fc.constantFrom(undefined, 'true', 'true', 'true', 'true', 'false', 'yes'),
      arch: fc.constantFrom('amd64', 'amd64', 'arm64', undefined),
      unschedulable: rarely(5),
    }), { minLength: 1, maxLength: 6 }),
    admitted: fc.constant(admitted),
    pullSecret: fc.option(fc.constantFrom('kcr-registry', 'own'), { nil: undefined }),
  }),
);
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;


const hex = (i: number): string => i.toString(16).padStart(64, '0');
const runtimeImageOf = (ns: string, i: number): string => `reg.example/${ns}/cp@sha256:${hex(i)}`;

/** An index fed what the webhook's informers keep (index-projections.ts) instead of full objects. */
function fedProjections(index: RestoreIndex): RestoreIndex {
  const upsert = index.upsert.bind(index);
  index.upsert = (kind, obj) => upsert(kind, INDEX_PROJECTIONS[kind](obj));
  return index;
}

/** The index for a scenario; checkpoint names are unique across namespaces (cp-<i>) so a cross-namespace pick is visible. */
function build(s: Scenario, feed: 'full' | 'projected' = 'full'): { index: RestoreIndex; request: AdmissionRequest } {
  const index = feed === 'full' ? new RestoreIndex() : fedProjections(new RestoreIndex());
  s.checkpoints.forEach((c, i) => {
    index.upsert(
      'Checkpoint',
      checkpoint({
        name: `cp-${i}`,
        namespace: c.ns,
        identity: c.identity,
        container: c.container,
        podName: c.identity,
        podUID: `uid-${c.source}`,
        originalImage: c.image,
        ...(c.withDigest && c.image.includes('@') ? { originalImage: 'reg.example/img:tag', originalImageDigest: `sha256:${'c'.repeat(64)}` } : {}),
        ...(c.arch !== undefined ? { architecture: c.arch } : {}),
        ...(c.runtime !== undefined ? { runtime: c.runtime } : {}),
        takenAt: new Date(Date.UTC(2026, 10, 24, 6, c.takenMinute)).toISOString(),
        phase: c.phase,
        runtimeImage: runtimeImageOf(c.ns, i),
        bad: c.bad,
        pinned: c.pinned,
      }),
    );
  });
  s.nodes.forEach((n, i) => index.upsert('Node', node(`node-${i}`, n)));
  for (const p of s.pods) {
    const annotations = p.restoredFrom === undefined ? undefined : { [`kcr.io/restored-from.${p.container}`]: `cp-${p.restoredFrom}` };
    index.upsert('Pod', livePod({ name: p.name, uid: `uid-${p.source}`, namespace: p.ns, terminating: p.terminating, ...(p.failed ? { phase: 'Failed' } : {}), ...(annotations ? { annotations } : {}) }));
  }
  const a = s.admitted;
  if (a.viaNamespaceLabel) index.upsert('Namespace', namespace(a.ns, { 'kcr.io/restore': 'enabled' }));
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: a.identity,
      namespace: a.ns,
      annotations: { ...a.extraAnnotations, ...(a.viaNamespaceLabel ? {} : { 'kcr.io/restore': 'true' }) },
      ...(a.statefulSet ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 'sts', controller: true }] } : {}),
    },
    spec: {
      ...a.extraSpec,
      containers: a.containers.map((c) => ({ name: c.name, image: c.image })),
      ...(a.arch !== undefined ? { nodeSelector: { 'kubernetes.io/arch': a.arch } } : {}),
      ...(a.ownSecrets ? { imagePullSecrets: [{ name: 'own' }] } : {}),
    },
  };
  const request: AdmissionRequest = {
    uid: 'req',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: a.ns,
    operation: 'CREATE',
    object: pod,
  };
  return { index, request };
}

const REPOSITORIES = { registry: 'reg.example', prefix: '' };
const policyOf = (s: Scenario) => ({ excludedNamespaces: ['kube-system'], repositories: REPOSITORIES, ...(s.pullSecret ? { pullSecretName: s.pullSecret } : {}) });

interface Requirement { key: string; operator: string; values?: string[] }

/** The scheduler's reading of required node affinity and nodeSelector (the operators kcr writes, and NotIn/DoesNotExist). */
function podMatchesNode(pod: Record<string, unknown>, nodeName: string, labels: Record<string, string>): boolean {
  const spec = (pod.spec ?? {}) as { nodeSelector?: Record<string, string>; affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: { matchExpressions?: Requirement[]; matchFields?: Requirement[] }[] } } } };
  for (const [k, v] of Object.entries(spec.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms === undefined) return true;
  const holds = (r: Requirement, value: string | undefined) =>
    r.operator === 'In' ? value !== undefined && (r.values ?? []).includes(value)
      : r.operator === 'NotIn' ? value === undefined || !(r.values ?? []).includes(value)
        : r.operator === 'Exists' ? value !== undefined
          : r.operator === 'DoesNotExist' ? value === undefined : false;
  return terms.some((t) => (t.matchExpressions ?? []).every((r) => holds(r, labels[r.key])) && (t.matchFields ?? []).every((r) => holds(r, r.key === 'metadata.name' ? nodeName : undefined)));
}

describe('decide: properties', () => {
  it('an index fed the informers\' projections decides exactly as one fed full objects', () => {
    let patched = 0;
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const full = build(s, 'full');
        const projected = build(s, 'projected');
        const a = decide({ request: full.request, index: full.index, policy: policyOf(s), now: NOW });
        const b = decide({ request: projected.request, index: projected.index, policy: policyOf(s), now: NOW });
        if (a.kind === 'patch') patched++;
        expect(b).toEqual(a);
        expect(projected.index.sizes()).toEqual(full.index.sizes());
      }),
      { numRuns: 600 },
    );
    expect(patched).toBeGreaterThan(50);
  });

  it('a restore is never placed on a node that cannot restore it, and always has a node that can', () => {
    let patched = 0;
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const { index, request } = build(s);
        const d = decide({ request, index, policy: policyOf(s), now: NOW });
        if (d.kind !== 'patch') return;
        patched++;
        const pod = jsonpatch.applyPatch(structuredClone(request.object), d.patch, true, false).newDocument as Record<string, unknown>;
        const runtimes = new Set(d.restored.map((r) => s.checkpoints[Number(r.checkpoint.slice(3))]!.runtime).filter((r) => r !== undefined));
        expect(runtimes.size, 'one runtime per pod').toBeLessThanOrEqual(1);
        let placeable = 0;
        s.nodes.forEach((n, i) => {
          const labels = (node(`node-${i}`, n) as { metadata: { labels: Record<string, string> } }).metadata.labels;
          if (!podMatchesNode(pod, `node-${i}`, labels)) return;
          expect(n.capable, 'only capable nodes').toBe('true');
          expect(n.runtime, 'only nodes that publish their runtime').toBeDefined();
          for (const rt of runtimes) expect(n.runtime, 'only the checkpoint runtime').toBe(rt);
          if (!n.unschedulable) placeable++;
        });
        expect(placeable, 'some schedulable node can take it').toBeGreaterThan(0);
      }),
      { numRuns: 800 },
    );
    expect(patched).toBeGreaterThan(100);
  });

  it('deciding again on the patched pod yields no patch', () => {
    let patched = 0;
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const { index, request } = build(s);
        const first = decide({ request, index, policy: policyOf(s), now: NOW });
        if (first.kind !== 'patch') return;
        patched++;
        const pod = jsonpatch.applyPatch(structuredClone(request.object), first.patch, true, false).newDocument;
        const second = decide({ request: { ...request, object: pod }, index, policy: policyOf(s), now: NOW });
        expect(second).toMatchObject({ kind: 'unchanged', reason: 'already-restored' });
      }),
      { numRuns: 1000 },
    );
    // The generator must actually exercise the patch path.
    expect(patched).toBeGreaterThan(120);
  });

  it('no patch references a checkpoint from another namespace', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const { index, request } = build(s);
        const d = decide({ request, index, policy: policyOf(s), now: NOW });
        if (d.kind !== 'patch') return;
        const ns = request.namespace!;
        for (const r of d.restored) {
          const i = Number(r.checkpoint.slice('cp-'.length));
          expect(s.checkpoints[i]!.ns).toBe(ns);
          expect(s.checkpoints[i]!.identity).toBe(s.admitted.identity);
          expect(r.image).toBe(runtimeImageOf(ns, i));
        }
        for (const op of d.patch) {
          if (op.op === 'replace' && op.path.endsWith('/image')) expect(String(op.value).startsWith(`reg.example/${ns}/`)).toBe(true);
        }
      }),
      { numRuns: 600 },
    );
  });

  it('a restored container never starts from a checkpoint of a living source pod or of another image', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const { index, request } = build(s);
        const d = decide({ request, index, policy: policyOf(s), now: NOW });
        if (d.kind !== 'patch') return;
        // Later pods with the same uid replace earlier ones in the index.
        const last = new Map(s.pods.map((p) => [`uid-${p.source}`, p]));
        for (const r of d.restored) {
          const c = s.checkpoints[Number(r.checkpoint.slice(3))]!;
          const p = last.get(`uid-${c.source}`);
          expect(p !== undefined && !p.terminating && !p.failed, 'source alive').toBe(false);
          const admittedImage = s.admitted.containers.find((x) => x.name === r.container)!.image;
          expect(admittedImage === c.image, 'same image').toBe(true);
          expect(c.bad || c.phase !== 'ImageBuilt').toBe(false);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('never throws on arbitrary JSON as request.object', () => {
    const index = build({ checkpoints: [], pods: [], nodes: [], admitted: { ns: 'shop', identity: 'db-0', containers: [{ name: 'app', image: 'img:1' }], arch: undefined, viaNamespaceLabel: true, statefulSet: false, ownSecrets: false, extraAnnotations: {}, extraSpec: {} }, pullSecret: undefined }).index;
    fc.assert(
      fc.property(fc.anything(), fc.constantFrom<AdmissionRequest['operation']>('CREATE', 'UPDATE'), (object, operation) => {
        const request: AdmissionRequest = { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'shop', operation, object };
        const d = decide({ request, index, policy: { excludedNamespaces: [], repositories: REPOSITORIES }, now: NOW });
        expect(d.kind).toBe('unchanged');
        // Guards, not the catch-all, must handle every shape.
        expect(d.reason).not.toBe('error');
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on arbitrary pod specs, metadata and request fields', () => {
    const podish = fc.record({
      metadata: fc.oneof(fc.jsonValue(), fc.record({ name: fc.oneof(fc.string(), fc.jsonValue()), annotations: fc.oneof(fc.jsonValue(), fc.constant({ 'kcr.io/restore': 'true', 'kcr.io/restored-from.app': 'cp-0' })), ownerReferences: fc.jsonValue(), labels: fc.jsonValue() })),
      spec: fc.oneof(fc.jsonValue(), fc.record({ containers: fc.array(fc.oneof(fc.jsonValue(), fc.record({ name: fc.constantFrom('app', 'cache'), image: fc.oneof(fc.constantFrom(...IMAGES), fc.jsonValue()) }))), nodeSelector: fc.jsonValue(), imagePullSecrets: fc.jsonValue() })),
    });
    fc.assert(
      fc.property(scenarioArb, podish, fc.jsonValue(), fc.jsonValue(), (s, object, kind, dryRun) => {
        const { index, request } = build(s);
        const variants = [
          { ...request, object },
          { ...request, kind, object },
          { ...request, dryRun, object: request.object },
        ] as AdmissionRequest[];
        for (const v of variants) {
          const d = decide({ request: v, index, policy: policyOf(s), now: NOW });
          expect(REASONS).toContain(d.reason);
          expect(d.reason).not.toBe('error');
        }
      }),
      { numRuns: 500 },
    );
  });
});
