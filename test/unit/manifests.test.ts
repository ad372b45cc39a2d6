// The install manifests (manifests/, redis/) as a user applies them: every file parses, every
// kustomization names files that exist, the CRDs carry every field of src/api/types.ts, the
// webhook can never block pod creation, RBAC has no wildcards, and Redis keeps its jobs.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CronExpressionParser } from 'cron-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type {
  CheckpointRequestSpec,
  CheckpointRequestStatus,
  CheckpointScheduleSpec,
  CheckpointScheduleStatus,
  CheckpointSpec,
  CheckpointStatus,
  RestoreRequestSpec,
  RestoreRequestStatus,
  RetentionPolicy,
} from '../../src/api/types.ts';
import { ANNOTATIONS, GROUP, PLURALS, VERSION } from '../../src/api/types.ts';
import { CLAIM_ANNOTATION, CLAIM_HOLDER_ANNOTATION } from '../../src/rules/checkpoint-claim.ts';
import { IN_PLACE_HISTORY_PREFIX } from '../../src/restore/in-place-restore.ts';
import { DEFAULT_MAX_CHECKPOINTS_PER_CONTAINER } from '../../src/retention/choose.ts';
import { DEFAULT_ORPHAN_GRACE_SECONDS } from '../../src/retention/orphan-grace.ts';
import { controllerCreateRefusal } from '../../src/restore/service-account-token.ts';
import { toolPath } from '../support/tools.ts';
import type { Registry } from 'prom-client';
import { createAgentMetrics } from '../../src/agent/agent-metrics.ts';
import { createControllerMetrics } from '../../src/controller/controller-metrics.ts';
import { createWebhookMetrics } from '../../webhooks/metrics.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// ---------- loading ----------

type Obj = Record<string, unknown>;
interface Doc {
  file: string;
  obj: Obj;
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out.sort();
}

function parseFile(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: Obj[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${relative(ROOT, file)}: ${d.errors.map((e) => e.message).join('; ')}`);
    const v: unknown = d.toJS();
    if (v === null) continue;
    if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${relative(ROOT, file)}: a document is not a mapping`);
    out.push(v as Obj);
  }
  return out;
}

const allFiles = [...yamlFiles(join(ROOT, 'manifests')), ...yamlFiles(join(ROOT, 'redis'))];
// Files a kustomization lists under `configurations:` configure kustomize's transformers; they are not objects.
const transformerConfigs = new Set(allFiles.flatMap((file) => parseFile(file).flatMap((o) =>
  o.kind === 'Kustomization' ? ((o.configurations as string[] | undefined) ?? []).map((c) => join(dirname(file), c)) : [])));
const files = allFiles.filter((f) => !transformerConfigs.has(f));
const docs: Doc[] = files.flatMap((file) => parseFile(file).map((obj) => ({ file, obj })));

function get(o: unknown, ...path: (string | number)[]): unknown {
  let cur = o;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

function kindOf(d: Doc): string {
  return String(d.obj.kind);
}
function nameOf(d: Doc): string {
  return String(get(d.obj, 'metadata', 'name'));
}
/**
 * A container's setting as the pod sees it: its own env entry, else the kcr-settings ConfigMap
 * it reads with envFrom (settings/kcr-settings.yaml).
 */
function settingOf(kind: string, name: string, key: string, container = 0): string | undefined {
  const c = get(find(kind, name), 'spec', 'template', 'spec', 'containers', container) as { env?: { name: string; value?: string }[]; envFrom?: { configMapRef?: { name: string } }[] };
  const own = c.env?.find((e) => e.name === key);
  if (own) return own.value;
  for (const from of c.envFrom ?? []) {
    const data = get(find('ConfigMap', from.configMapRef!.name), 'data') as Record<string, string>;
    if (key in data) return data[key];
  }
  return undefined;
}

function find(kind: string, name: string): Obj {
  const found = docs.filter((d) => kindOf(d) === kind && nameOf(d) === name && !d.file.includes('/overlays/'));
  expect(found, `${kind}/${name} in manifests/`).toHaveLength(1);
  return found[0]!.obj;
}

// ---------- YAML and kustomize structure ----------

describe('YAML files', () => {
  it('finds the manifests and every document is an object with apiVersion and kind', () => {
    expect(files.length).toBeGreaterThan(15);
    for (const d of docs) {
      expect(typeof d.obj.apiVersion, relative(ROOT, d.file)).toBe('string');
      expect(typeof d.obj.kind, relative(ROOT, d.file)).toBe('string');
    }
  });
});

describe('kustomizations', () => {
  const kustomizations = docs.filter((d) => kindOf(d) === 'Kustomization');

  it('exist for manifests, its parts, samples, the cert-manager overlay and redis', () => {
    const dirs = kustomizations.map((k) => relative(ROOT, dirname(k.file))).sort();
    for (const want of ['manifests', 'manifests/namespace', 'manifests/crds', 'manifests/rbac', 'manifests/policies', 'manifests/webhook', 'manifests/controller', 'manifests/agent', 'manifests/samples', 'manifests/overlays/cert-manager', 'manifests/monitoring', 'redis']) {
      expect(dirs).toContain(want);
    }
  });

  it('name only files and directories that exist', () => {
    for (const k of kustomizations) {
      const dir = dirname(k.file);
      const refs: string[] = [
        ...((k.obj.resources as string[] | undefined) ?? []),
        ...((k.obj.transformers as string[] | undefined) ?? []),
        ...((k.obj.patches as { path?: string }[] | undefined) ?? []).flatMap((p) => (p.path ? [p.path] : [])),
        ...((k.obj.configMapGenerator as { files?: string[] }[] | undefined) ?? []).flatMap((g) => g.files ?? []),
        ...((k.obj.configurations as string[] | undefined) ?? []),
      ];
      expect(refs.length, relative(ROOT, k.file)).toBeGreaterThan(0);
      for (const ref of refs) {
        const p = join(dir, ref.replace(/^[^=]+=/, ''));
        expect(existsSync(p), `${relative(ROOT, k.file)} names ${ref}`).toBe(true);
        if (statSync(p).isDirectory()) expect(existsSync(join(p, 'kustomization.yaml')), `${ref} is a kustomization`).toBe(true);
      }
    }
  });

  it('the top-level one installs into kcr-system and includes every component', () => {
    const top = kustomizations.find((k) => relative(ROOT, k.file) === 'manifests/kustomization.yaml')!;
    expect(top.obj.namespace).toBe('kcr-system');
    const resources = top.obj.resources as string[];
    for (const r of ['namespace', 'crds', 'rbac', 'policies', 'webhook', 'controller', 'agent', '../redis']) {
      expect(resources).toContain(r);
    }
  });

  it('the cert-manager overlay installs the same parts as the top-level one', () => {
    const top = kustomizations.find((k) => relative(ROOT, k.file) === 'manifests/kustomization.yaml')!;
    const overlay = kustomizations.find((k) => relative(ROOT, k.file) === 'manifests/overlays/cert-manager/kustomization.yaml')!;
    const parts = (k: Doc): string[] =>
      (k.obj.resources as string[]).map((r) => relative(ROOT, join(dirname(k.file), r))).filter((p) => !p.startsWith('manifests/overlays/'));
    expect(parts(overlay).sort()).toEqual(parts(top).sort());
    expect(overlay.obj.namespace).toBe(top.obj.namespace);
  });

  it('every YAML file under manifests/ and redis/ is reachable from some kustomization or is a sample', () => {
    const named = new Set<string>();
    for (const k of kustomizations) {
      named.add(k.file);
      const dir = dirname(k.file);
      for (const r of [
        ...((k.obj.resources as string[] | undefined) ?? []),
        ...((k.obj.transformers as string[] | undefined) ?? []),
        ...((k.obj.patches as { path?: string }[] | undefined) ?? []).flatMap((p) => (p.path ? [p.path] : [])),
      ]) {
        named.add(join(dir, r));
      }
    }
    // samples/restorerequest.yaml is applied by hand (it migrates a pod at once).
    const orphans = files.filter((f) => !named.has(f) && !f.endsWith('samples/restorerequest.yaml'));
    expect(orphans.map((f) => relative(ROOT, f))).toEqual([]);
  });
});

// ---------- CRDs mirror src/api/types.ts ----------

// `satisfies Record<keyof T, true>` makes tsc fail when types.ts gains or loses a field and this
// list is not updated; the tests then hold the CRDs to the list.
const fields = {
  CheckpointSchedule: {
    spec: {
      schedule: true, selector: true, timeZone: true, containerNames: true, suspend: true,
      timeoutSeconds: true, retention: true, restore: true,
    } satisfies Record<keyof CheckpointScheduleSpec, true>,
    status: {
      lastRunTime: true, nextRunTime: true, lastSuccessfulTime: true, checkpointsCreated: true,
      conditions: true, observedGeneration: true,
    } satisfies Record<keyof CheckpointScheduleStatus, true>,
    required: ['schedule', 'selector'],
  },
  CheckpointRequest: {
    spec: {
      podReference: true, containerName: true, checkpointScheduleRef: true, timeoutSeconds: true,
      ttlSecondsAfterFinished: true,
    } satisfies Record<keyof CheckpointRequestSpec, true>,
    status: {
      phase: true, startTime: true, completionTime: true, checkpoint: true, message: true,
      nodeName: true, attempts: true, archive: true, conditions: true, observedGeneration: true,
    } satisfies Record<keyof CheckpointRequestStatus, true>,
    required: ['podReference', 'containerName'],
  },
  Checkpoint: {
    spec: {
      checkpointData: true, checkpointID: true, checkpointTimestamp: true, containerName: true,
      nodeName: true, schedule: true, selector: true, checkpointScheduleRef: true, podName: true,
      podUID: true, workload: true, identity: true, originalImage: true, originalImageDigest: true,
      originalImageID: true, runtime: true, baseImage: true, architecture: true, sizeBytes: true, archiveDigest: true,
    } satisfies Record<keyof CheckpointSpec, true>,
    status: {
      phase: true, checkpointImage: true, runtimeImage: true, conditions: true, failedReason: true,
      restoreCount: true, failedRestoreCount: true, failedRestoreNodes: true, lastRestoreTime: true, bad: true, badReason: true,
      observedGeneration: true,
    } satisfies Record<keyof CheckpointStatus, true>,
    required: ['containerName'],
  },
  RestoreRequest: {
    spec: {
      podReference: true, checkpointRef: true, targetNode: true, checkpointFirst: true,
    } satisfies Record<keyof RestoreRequestSpec, true>,
    status: {
      phase: true, checkpoint: true, newPod: true, message: true, startTime: true,
      completionTime: true, conditions: true, sourcePodUID: true, identity: true, checkpoints: true,
      checkpointRequests: true, pinnedAt: true, keptManifest: true, observedGeneration: true,
    } satisfies Record<keyof RestoreRequestStatus, true>,
    required: ['podReference'],
  },
} as const;

const phases: Record<string, string[]> = {
  CheckpointRequest: ['Pending', 'InProgress', 'Completed', 'Failed'],
  Checkpoint: ['Created', 'Processing', 'ImageBuilt', 'Failed'],
  RestoreRequest: ['Pending', 'Checkpointing', 'Restoring', 'Completed', 'Failed'],
};

function crd(kind: keyof typeof fields): Obj {
  return find('CustomResourceDefinition', `${PLURALS[kind]}.${GROUP}`);
}
function version(kind: keyof typeof fields): Obj {
  const versions = get(crd(kind), 'spec', 'versions') as Obj[];
  expect(versions).toHaveLength(1);
  return versions[0]!;
}
function schema(kind: keyof typeof fields, ...path: string[]): Obj {
  return get(version(kind), 'schema', 'openAPIV3Schema', ...path.flatMap((p) => ['properties', p])) as Obj;
}

/** Every x-kubernetes-validations rule in a schema, with the path it sits at. */
function celRules(s: unknown, path = ''): { path: string; rule: string; message: string }[] {
  if (s === null || typeof s !== 'object') return [];
  const o = s as Obj;
  const here = ((o['x-kubernetes-validations'] as { rule: string; message?: string }[] | undefined) ?? []).map((r) => ({
    path,
    rule: r.rule,
    message: r.message ?? '',
  }));
  const props = Object.entries((o.properties as Obj | undefined) ?? {}).flatMap(([k, v]) => celRules(v, `${path}.${k}`));
  const items = o.items ? celRules(o.items, `${path}[]`) : [];
  const extra = o.additionalProperties && typeof o.additionalProperties === 'object' ? celRules(o.additionalProperties, `${path}{}`) : [];
  return [...here, ...props, ...items, ...extra];
}

/** Every string and array schema, to check the bounds CEL's cost estimate needs. */
function unbounded(s: unknown, path = ''): string[] {
  if (s === null || typeof s !== 'object') return [];
  const o = s as Obj;
  const out: string[] = [];
  const isStatus = path.startsWith('.status') || path === '.metadata';
  if (!isStatus && o.type === 'string' && o.maxLength === undefined && o.enum === undefined && o.format !== 'date-time' && path !== '.apiVersion' && path !== '.kind') out.push(path);
  if (!isStatus && o.type === 'array' && o.maxItems === undefined) out.push(path);
  for (const [k, v] of Object.entries((o.properties as Obj | undefined) ?? {})) out.push(...unbounded(v, `${path}.${k}`));
  if (o.items) out.push(...unbounded(o.items, `${path}[]`));
  if (o.additionalProperties && typeof o.additionalProperties === 'object') out.push(...unbounded(o.additionalProperties, `${path}{}`));
  return out;
}

describe('CRDs', () => {
  for (const kind of Object.keys(fields) as (keyof typeof fields)[]) {
    describe(kind, () => {
      it(`is ${GROUP}/${VERSION}, namespaced, served and stored, with a status subresource, a short name and the kcr category`, () => {
        const c = crd(kind);
        expect(get(c, 'apiVersion')).toBe('apiextensions.k8s.io/v1');
        expect(get(c, 'spec', 'group')).toBe(GROUP);
        expect(get(c, 'spec', 'scope')).toBe('Namespaced');
        expect(get(c, 'spec', 'names', 'kind')).toBe(kind);
        expect(get(c, 'spec', 'names', 'plural')).toBe(PLURALS[kind]);
        expect((get(c, 'spec', 'names', 'shortNames') as string[]).length).toBeGreaterThan(0);
        expect(get(c, 'spec', 'names', 'categories')).toContain('kcr');
        const v = version(kind);
        expect(v).toMatchObject({ name: VERSION, served: true, storage: true, subresources: { status: {} } });
        const columns = (v.additionalPrinterColumns as { name: string; jsonPath: string }[]).map((col) => col.name);
        expect(columns).toContain('Age');
      });

      it('has a conditions list in the form of metav1.Condition (required fields, status enum, CamelCase reason) and status.observedGeneration', () => {
        const conditions = schema(kind, 'status', 'conditions');
        expect(conditions).toMatchObject({ type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });
        const item = get(conditions, 'items') as Obj;
        expect([...(item.required as string[])].sort()).toEqual(['lastTransitionTime', 'message', 'reason', 'status', 'type']);
        expect(get(item, 'properties', 'status', 'enum')).toEqual(['True', 'False', 'Unknown']);
        expect(get(item, 'properties', 'lastTransitionTime', 'format')).toBe('date-time');
        expect(get(item, 'properties', 'observedGeneration', 'type')).toBe('integer');
        const reason = new RegExp(get(item, 'properties', 'reason', 'pattern') as string);
        for (const ok of ['Complete', 'PodNotFound', 'InvalidSchedule']) expect(reason.test(ok), ok).toBe(true);
        for (const bad of ['', 'has spaces', '9Lives']) expect(reason.test(bad), bad).toBe(false);
        expect(schema(kind, 'status', 'observedGeneration')).toMatchObject({ type: 'integer', format: 'int64' });
      });

      it('has a schema property for every spec and status field of src/api/types.ts, and no others', () => {
        const spec = Object.keys(schema(kind, 'spec').properties as Obj).sort();
        const status = Object.keys(schema(kind, 'status').properties as Obj).sort();
        expect(spec).toEqual(Object.keys(fields[kind].spec).sort());
        expect(status).toEqual(Object.keys(fields[kind].status).sort());
        expect([...((schema(kind, 'spec').required as string[] | undefined) ?? [])].sort()).toEqual([...fields[kind].required].sort());
        for (const [name, s] of [...Object.entries(schema(kind, 'spec').properties as Obj), ...Object.entries(schema(kind, 'status').properties as Obj)]) {
          expect(typeof get(s, 'type'), `${kind} ${name} has a type`).toBe('string');
        }
      });

      it('bounds every string and list in spec, so the CEL cost estimate fits', () => {
        expect(unbounded(schema(kind, 'spec'), '.spec')).toEqual([]);
      });

      it('gives every CEL rule a message that names a field', () => {
        const rules = celRules(get(version(kind), 'schema', 'openAPIV3Schema'));
        for (const r of rules) {
          expect(r.message, `${kind} rule at ${r.path}: ${r.rule}`).toMatch(/\b(spec|status)\b/);
        }
      });

      if (phases[kind]) {
        it('enumerates the phases', () => {
          expect(get(schema(kind, 'status', 'phase'), 'enum')).toEqual(phases[kind]);
        });
      }
    });
  }

  it('defaults what types.ts documents: timeoutSeconds 300, retention 3 / no orphans, restore Replacement', () => {
    expect(get(schema('CheckpointRequest', 'spec', 'timeoutSeconds'), 'default')).toBe(300);
    expect(schema('CheckpointRequest', 'spec', 'timeoutSeconds')).toMatchObject({ minimum: 1, maximum: 3600 });
    expect(schema('CheckpointSchedule', 'spec', 'timeoutSeconds')).toMatchObject({ minimum: 1, maximum: 3600 });
    expect(get(schema('CheckpointRequest', 'spec', 'ttlSecondsAfterFinished'), 'minimum')).toBe(0);
    expect(get(schema('CheckpointSchedule', 'spec', 'retention', 'maxCheckpointsPerContainer'), 'default')).toBe(3);
    expect(get(schema('CheckpointSchedule', 'spec', 'retention', 'retainOrphan'), 'default')).toBe(false);
    expect(schema('CheckpointSchedule', 'spec', 'restore', 'mode')).toMatchObject({ enum: ['Replacement', 'Never'], default: 'Replacement' });
    // Parents default to {} so the nested defaults show on every object.
    expect(get(schema('CheckpointSchedule', 'spec', 'retention'), 'default')).toEqual({});
    expect(get(schema('CheckpointSchedule', 'spec', 'restore'), 'default')).toEqual({});
  });

  it('mirrors RetentionPolicy in spec.retention, with the defaults retention applies', () => {
    const retention = { maxCheckpointsPerContainer: true, maxTotalSize: true, retainOrphan: true, orphanGraceSeconds: true } satisfies Record<keyof RetentionPolicy, true>;
    expect(Object.keys(schema('CheckpointSchedule', 'spec', 'retention').properties as Obj).sort()).toEqual(Object.keys(retention).sort());
    expect(get(schema('CheckpointSchedule', 'spec', 'retention', 'maxCheckpointsPerContainer'), 'default')).toBe(DEFAULT_MAX_CHECKPOINTS_PER_CONTAINER);
    expect(schema('CheckpointSchedule', 'spec', 'retention', 'orphanGraceSeconds')).toMatchObject({ type: 'integer', default: DEFAULT_ORPHAN_GRACE_SECONDS, minimum: 0 });
  });

  it('makes RestoreRequest spec immutable and Checkpoint source fields set-once', () => {
    expect(celRules(schema('RestoreRequest', 'spec'), '.spec')).toContainEqual(expect.objectContaining({ path: '.spec', rule: 'self == oldSelf' }));
    const checkpointRules = celRules(schema('Checkpoint', 'spec'), '.spec');
    for (const f of ['containerName', 'podUID', 'identity', 'originalImage', 'architecture', 'nodeName']) {
      expect(checkpointRules).toContainEqual(expect.objectContaining({ path: `.spec.${f}`, rule: 'self == oldSelf' }));
    }
  });

  it('requires a non-empty schedule selector and a positive quantity for maxTotalSize', () => {
    const selectorRules = celRules(schema('CheckpointSchedule', 'spec', 'selector')).map((r) => r.rule);
    expect(selectorRules.some((r) => r.includes('size(self.matchLabels) > 0') && r.includes('size(self.matchExpressions) > 0'))).toBe(true);
    expect(celRules(schema('CheckpointSchedule', 'spec', 'retention', 'maxTotalSize')).map((r) => r.rule).join()).toMatch(/isQuantity\(self\)/);
  });
});

// ---------- the schedule's cron rules, evaluated as the API server would ----------

// The CRD's rules on spec.schedule are of three forms; this mirrors their logic with the same
// regular expressions (RE2 and JavaScript agree on this subset, including (?i:...) groups).
const scheduleRules = celRules(schema('CheckpointSchedule', 'spec', 'schedule'));
function regexesOf(rule: string): RegExp[] {
  return [...rule.matchAll(/r'([^']*)'/g)].map((m) => new RegExp(m[1]!));
}
function celAccepts(s: string): { ok: boolean; failed: string[] } {
  const failed: string[] = [];
  for (const r of scheduleRules) {
    const res = regexesOf(r.rule);
    let ok: boolean;
    if (r.rule.startsWith("self.matches(r'^@")) {
      ok = res[0]!.test(s) || res[1]!.test(s); // macro || shape
    } else {
      ok = s.startsWith('@') || !res[0]!.test(s) || res[1]!.test(s); // not applicable || field
    }
    if (!ok) failed.push(r.message);
  }
  return { ok: failed.length === 0, failed };
}
function cronParserAccepts(s: string): boolean {
  try {
    CronExpressionParser.parse(s, { currentDate: new Date('2026-01-01T00:00:00Z'), tz: 'UTC' });
    return true;
  } catch {
    return false;
  }
}

describe('CheckpointSchedule printer columns', () => {
  it('`kubectl get cps` shows READY (the Ready condition\'s status) by default, and its reason with -o wide', () => {
    const columns = version('CheckpointSchedule').additionalPrinterColumns as { name: string; jsonPath: string; priority?: number }[];
    expect(columns.find((c) => c.name === 'Ready')).toMatchObject({ jsonPath: '.status.conditions[?(@.type=="Ready")].status' });
    expect(columns.find((c) => c.name === 'Ready')?.priority ?? 0).toBe(0);
    expect(columns.find((c) => c.name === 'Reason')).toMatchObject({ jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1 });
  });
});

describe('CheckpointSchedule spec.schedule rules', () => {
  it('has the shape rule and one rule per cron field', () => {
    expect(scheduleRules).toHaveLength(6);
  });

  const accepted = [
    '*/1 * * * *', '0 2 * * MON-FRI', '0 0 1 JAN *', '0 0 1 jan *', '5/15 * * * *', '0,15,30,45 * * * *',
    '1-5/2 * * * *', '0 0 ? * *', '0 0 * * ?', '0 0 * * 7', '0 0 * * sun', '59 23 31 12 6', '0 0 1-31/2 * *',
    '  */5   *  *  *  *  ', '0 9-17 * * 1-5', '0 0 1 1,4,7,10 *', '00 05 01 01 0',
    '@hourly', '@daily', '@weekly', '@monthly', '@yearly', '@annually',
  ];
  it.each(accepted)('accepts %j, and so does cron-parser', (s) => {
    expect(celAccepts(s)).toEqual({ ok: true, failed: [] });
    expect(cronParserAccepts(s)).toBe(true);
  });

  const rejected: [string, RegExp][] = [
    ['* * * *', /5-field/],
    ['* * * * * *', /5-field/],
    ['TZ=UTC * * * * *', /5-field/],
    ['@midnight', /5-field/],
    ['@every 5m', /5-field/],
    ['60 * * * *', /minute/],
    ['*/0 * * * *', /minute/],
    ['* 24 * * *', /hour/],
    ['* * 0 * *', /day-of-month/],
    ['* * 32 * *', /day-of-month/],
    ['0 0 L * *', /day-of-month/],
    ['* * * 13 *', /month/],
    ['* * * FOO *', /month/],
    ['* * * * 8', /day-of-week/],
    ['0 0 * * 1#2', /day-of-week/],
    ['0 0 * * 5L', /day-of-week/],
    ['H * * * *', /minute/],
    ['a b c d e', /minute/],
  ];
  it.each(rejected)('rejects %j with a message naming the field', (s, message) => {
    const res = celAccepts(s);
    expect(res.ok).toBe(false);
    expect(res.failed.join('\n')).toMatch(message);
  });

  it('accepts nothing cron-parser cannot evaluate, except reversed ranges (the controller reports those)', () => {
    const value = fc.oneof(fc.constantFrom('*', '?', 'JAN', 'mon', 'SAT', 'L', 'x'), fc.integer({ min: 0, max: 70 }).map(String));
    const element = fc
      .tuple(value, fc.option(value, { nil: undefined }), fc.option(fc.integer({ min: 0, max: 120 }), { nil: undefined }))
      .map(([a, b, step]) => `${a}${b === undefined ? '' : `-${b}`}${step === undefined ? '' : `/${step}`}`);
    const field = fc.array(element, { minLength: 1, maxLength: 3 }).map((xs) => xs.join(','));
    fc.assert(
      fc.property(fc.array(field, { minLength: 4, maxLength: 6 }), (fs) => {
        const s = fs.join(' ');
        if (!celAccepts(s).ok) return;
        const reversed = fs.some((f) => f.split(',').some((e) => /^(\d+)-(\d+)/.test(e) && Number(/^(\d+)-(\d+)/.exec(e)![1]) > Number(/^(\d+)-(\d+)/.exec(e)![2])));
        // cron-parser rejects steps larger than the field's range; the controller reports those too.
        const bigStep = fs.some((f) => /\/(\d+)/.test(f) && Number(/\/(\d+)/.exec(f)![1]) > 23);
        const names = fs.some((f) => /[A-Za-z]-|-[A-Za-z]/.test(f));
        if (reversed || bigStep || names) return;
        expect(cronParserAccepts(s), s).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});

// ---------- the webhook never blocks the cluster ----------

describe('MutatingWebhookConfiguration kcr-restore', () => {
  const cfg = find('MutatingWebhookConfiguration', 'kcr-restore');
  const hooks = cfg.webhooks as Obj[];

  it('fails open, quickly, without side effects, on v1 reviews of pod CREATE only', () => {
    expect(hooks.length).toBeGreaterThan(0);
    for (const h of hooks) {
      expect(h.failurePolicy).toBe('Ignore');
      expect(h.timeoutSeconds).toBeLessThanOrEqual(5);
      expect(['None', 'NoneOnDryRun']).toContain(h.sideEffects);
      expect(h.admissionReviewVersions).toEqual(['v1']);
      expect(h.rules).toEqual([{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
      expect(get(h, 'clientConfig', 'service')).toMatchObject({ name: 'kcr-webhook', namespace: 'kcr-system', path: '/mutate', port: 443 });
      // caBundle is published at runtime; a static one would be wiped back on every apply.
      expect(get(h, 'clientConfig', 'caBundle')).toBeUndefined();
    }
  });

  it('leaves kube-system out by name and kcr\'s own namespace by its label, whatever it is called', () => {
    for (const h of hooks) {
      const exprs = get(h, 'namespaceSelector', 'matchExpressions') as { key: string; operator: string; values: string[] }[];
      const byName = exprs.find((e) => e.key === 'kubernetes.io/metadata.name');
      expect(byName?.operator).toBe('NotIn');
      expect(byName?.values).toEqual(['kube-system']);
      const byLabel = exprs.find((e) => e.key === 'kcr.io/restore');
      expect(byLabel).toEqual({ key: 'kcr.io/restore', operator: 'NotIn', values: ['disabled'] });
    }
    expect(get(find('Namespace', 'kcr-system'), 'metadata', 'labels', 'kcr.io/restore')).toBe('disabled');
  });
});

describe('webhook Deployment', () => {
  const dep = find('Deployment', 'kcr-webhook');
  const pod = get(dep, 'spec', 'template', 'spec') as Obj;
  const container = (pod.containers as Obj[])[0]!;

  it('runs 2 replicas of `kcr webhook` on 9443 behind the kcr-webhook Service (443) and a PDB', () => {
    expect(get(dep, 'spec', 'replicas')).toBe(2);
    expect(container.args).toEqual(['webhook']);
    expect(container.image).toBe('kcr:0.1.0');
    expect(get(container, 'ports', 0, 'containerPort')).toBe(9443);
    const svc = find('Service', 'kcr-webhook');
    expect(get(svc, 'spec', 'ports', 0)).toMatchObject({ port: 443, targetPort: 'https' });
    expect(get(svc, 'spec', 'selector')).toEqual(get(dep, 'spec', 'selector', 'matchLabels'));
    expect(get(find('PodDisruptionBudget', 'kcr-webhook'), 'spec', 'minAvailable')).toBe(1);
    expect(pod.serviceAccountName).toBe('kcr-webhook');
  });

  it('has probes and resources', () => {
    expect(get(container, 'readinessProbe', 'httpGet')).toMatchObject({ path: '/readyz', scheme: 'HTTPS' });
    expect(get(container, 'livenessProbe', 'httpGet')).toMatchObject({ path: '/livez', scheme: 'HTTPS' });
    expect(get(container, 'resources', 'requests', 'memory')).toBeDefined();
    expect(get(container, 'resources', 'limits', 'memory')).toBeDefined();
  });

  it('is locked down: non-root, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    expect(get(pod, 'securityContext', 'runAsNonRoot')).toBe(true);
    expect(get(pod, 'securityContext', 'seccompProfile', 'type')).toBe('RuntimeDefault');
    expect(get(container, 'securityContext')).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    // The certificate directory (under /tmp) must be writable on a read-only root.
    expect((container.volumeMounts as { mountPath: string }[]).map((m) => m.mountPath)).toContain('/tmp');
  });
});

describe('controller, agent and Redis wiring', () => {
  it('the controller and the agent reach the kcr-redis Service of their own namespace, by its short name', () => {
    const svc = find('Service', 'kcr-redis');
    const port = get(svc, 'spec', 'ports', 0, 'port');
    for (const [kind, name] of [['Deployment', 'kcr-controller'], ['DaemonSet', 'kcr-agent']] as const) {
      expect(settingOf(kind, name, 'KCR_REDIS_URL')).toBe(`redis://kcr-redis:${String(port)}`);
    }
  });

  it('the controller and the agent read the Redis password from the mounted Secret kcr-redis, never from an env value or the URL', () => {
    for (const [kind, name] of [['Deployment', 'kcr-controller'], ['DaemonSet', 'kcr-agent']] as const) {
      const pod = get(find(kind, name), 'spec', 'template', 'spec') as Obj;
      const env = get(pod, 'containers', 0, 'env') as { name: string; value?: string; valueFrom?: Obj }[];
      const file = env.find((e) => e.name === 'KCR_REDIS_PASSWORD_FILE')?.value;
      expect(file, `${name}: KCR_REDIS_PASSWORD_FILE`).toBe('/etc/kcr/redis/password');
      // The URL names the server only.
      expect(settingOf(kind, name, 'KCR_REDIS_URL')).not.toContain('@');
      // No password as an env value, literal or from a Secret (it would show in /proc/<pid>/environ of every child).
      for (const e of env) {
        expect(e.name, `${name}: ${e.name}`).not.toMatch(/PASSWORD$|^REDISCLI_AUTH$/);
        expect(get(e, 'valueFrom', 'secretKeyRef', 'name'), `${name}: ${e.name}`).not.toBe('kcr-redis');
      }
      const mount = (get(pod, 'containers', 0, 'volumeMounts') as { name: string; mountPath: string; readOnly?: boolean }[]).find((m) => m.mountPath === '/etc/kcr/redis');
      expect(mount?.readOnly, `${name} mounts /etc/kcr/redis read-only`).toBe(true);
      const volume = (get(pod, 'volumes') as { name: string; secret?: { secretName: string; items?: { key: string; path: string }[]; defaultMode?: number } }[])
        .find((v) => v.name === mount!.name)!;
      expect(volume.secret?.secretName).toBe('kcr-redis');
      expect(volume.secret?.items).toEqual([{ key: 'password', path: 'password' }]);
      // Readable by the container's user only: the owner (root) or the pod's fsGroup, never others.
      const mode = volume.secret?.defaultMode ?? 0o644;
      expect(mode & 0o007, `${name}: others cannot read the password`).toBe(0);
      const user = get(pod, 'securityContext', 'runAsUser');
      if (user !== 0) {
        expect(mode & 0o040, `${name}: the group may read it`).toBe(0o040);
        expect(get(pod, 'securityContext', 'fsGroup'), `${name}: fsGroup owns the Secret's files`).toBe(get(pod, 'securityContext', 'runAsGroup'));
      }
    }
  });

  it('the agent knows its node and mounts the kubelet checkpoint folder read-write', () => {
    const pod = get(find('DaemonSet', 'kcr-agent'), 'spec', 'template', 'spec') as Obj;
    const env = get(pod, 'containers', 0, 'env') as { name: string; valueFrom?: Obj }[];
    expect(env.find((e) => e.name === 'NODE_NAME')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
    expect(get(pod, 'volumes', 0, 'hostPath', 'path')).toBe('/var/lib/kubelet/checkpoints');
    const mount = (get(pod, 'containers', 0, 'volumeMounts') as { name: string; readOnly?: boolean }[]).find((m) => m.name === 'checkpoints');
    expect(mount?.readOnly ?? false).toBe(false);
    expect(get(pod, 'containers', 0, 'securityContext', 'capabilities', 'drop')).toEqual(['ALL']);
  });

  it('keeps a controller through drains: 2 replicas spread over nodes, and a PDB of minAvailable 1 selecting exactly its pods', () => {
    const dep = find('Deployment', 'kcr-controller');
    expect(get(dep, 'spec', 'replicas')).toBeGreaterThanOrEqual(2);
    const pdb = find('PodDisruptionBudget', 'kcr-controller');
    expect(get(pdb, 'apiVersion')).toBe('policy/v1');
    expect(get(pdb, 'spec', 'minAvailable')).toBe(1);
    // minAvailable below replicas: a drain can always evict one (a PDB equal to replicas would block every drain).
    expect(get(pdb, 'spec', 'minAvailable') as number).toBeLessThan(get(dep, 'spec', 'replicas') as number);
    expect(get(pdb, 'spec', 'selector', 'matchLabels')).toEqual(get(dep, 'spec', 'selector', 'matchLabels'));
    const spread = get(dep, 'spec', 'template', 'spec', 'topologySpreadConstraints', 0) as Obj;
    expect(spread.topologyKey).toBe('kubernetes.io/hostname');
  });

  it('every kcr pod runs under its own ServiceAccount', () => {
    expect(get(find('Deployment', 'kcr-controller'), 'spec', 'template', 'spec', 'serviceAccountName')).toBe('kcr-controller');
    expect(get(find('DaemonSet', 'kcr-agent'), 'spec', 'template', 'spec', 'serviceAccountName')).toBe('kcr-agent');
    for (const sa of ['kcr-webhook', 'kcr-controller', 'kcr-agent']) find('ServiceAccount', sa);
  });
});

// ---------- RBAC ----------

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}
const roles = docs.filter((d) => kindOf(d) === 'ClusterRole' || kindOf(d) === 'Role');
function rulesOf(kind: string, name: string): Rule[] {
  return find(kind, name).rules as Rule[];
}
function allows(rules: Rule[], group: string, resource: string, verb: string, name?: string): boolean {
  return rules.some(
    (r) =>
      (r.apiGroups ?? []).includes(group) &&
      (r.resources ?? []).includes(resource) &&
      r.verbs.includes(verb) &&
      (r.resourceNames === undefined || (name !== undefined && r.resourceNames.includes(name))),
  );
}

describe('RBAC', () => {
  it('has no wildcard verbs, resources or API groups', () => {
    expect(roles.length).toBeGreaterThan(5);
    for (const r of roles) {
      for (const rule of r.obj.rules as Rule[]) {
        for (const v of [...rule.verbs, ...(rule.resources ?? []), ...(rule.apiGroups ?? [])]) {
          expect(v, `${kindOf(r)}/${nameOf(r)}`).not.toContain('*');
        }
      }
    }
  });

  it('binds every role to an existing ServiceAccount or the documented kubelet-client user', () => {
    const bindings = docs.filter((d) => kindOf(d) === 'ClusterRoleBinding' || kindOf(d) === 'RoleBinding');
    for (const b of bindings) {
      const ref = b.obj.roleRef as { kind: string; name: string };
      find(ref.kind, ref.name);
      for (const s of b.obj.subjects as { kind: string; name: string }[]) {
        if (s.kind === 'ServiceAccount') find('ServiceAccount', s.name);
        else expect(s).toMatchObject({ kind: 'User', name: 'kube-apiserver-kubelet-client' });
      }
    }
  });

  it('limits the webhook to its own Secret and webhook configuration', () => {
    const cluster = rulesOf('ClusterRole', 'kcr:webhook');
    const ns = rulesOf('Role', 'kcr:webhook');
    expect(allows(cluster, 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations', 'patch', 'kcr-restore')).toBe(true);
    expect(allows(cluster, 'admissionregistration.k8s.io', 'mutatingwebhookconfigurations', 'patch', 'someone-else')).toBe(false);
    expect(allows(ns, '', 'secrets', 'update', 'kcr-webhook-tls')).toBe(true);
    expect(allows(ns, '', 'secrets', 'get', 'other-secret')).toBe(false);
    expect(allows(cluster, '', 'secrets', 'get', 'kcr-webhook-tls')).toBe(false);
    expect(allows(cluster, '', 'pods', 'watch')).toBe(true);
    expect(allows(cluster, '', 'pods', 'create')).toBe(false);
    expect(allows(cluster, 'checkpoint-restore.kcr.io', 'checkpoints', 'list')).toBe(true);
  });

  it('gives the agent nodes/checkpoint (it calls its kubelet directly) and never nodes/proxy; the API server kubelet identity nodes/checkpoint for the proxy way', () => {
    expect(allows(rulesOf('ClusterRole', 'kcr:agent'), '', 'nodes/checkpoint', 'create')).toBe(true);
    expect(allows(rulesOf('ClusterRole', 'kcr:agent'), '', 'nodes/proxy', 'create')).toBe(false);
    expect(allows(rulesOf('ClusterRole', 'kcr:agent'), '', 'pods', 'delete')).toBe(false);
    expect(allows(rulesOf('ClusterRole', 'kcr:kubelet-checkpoint'), '', 'nodes/checkpoint', 'create')).toBe(true);
  });

  it('lets the controller restore pods and hold its Lease, but read only the registry Secret', () => {
    const cluster = rulesOf('ClusterRole', 'kcr:controller');
    expect(allows(cluster, '', 'pods', 'delete')).toBe(true);
    expect(allows(cluster, '', 'pods', 'patch')).toBe(true);
    // Marking a node that cannot restore; the policy kcr-controller-node-restore-marks bounds the keys.
    expect(allows(cluster, '', 'nodes', 'patch')).toBe(true);
    expect(allows(cluster, '', 'nodes', 'update')).toBe(false);
    expect(allows(cluster, '', 'nodes', 'delete')).toBe(false);
    expect(allows(cluster, 'checkpoint-restore.kcr.io', 'restorerequests/status', 'update')).toBe(true);
    const ns = rulesOf('Role', 'kcr:controller');
    expect(allows(ns, 'coordination.k8s.io', 'leases', 'update', 'kcr-controller')).toBe(true);
    expect(allows(ns, '', 'secrets', 'get', 'kcr-registry')).toBe(true);
    expect(allows(ns, '', 'secrets', 'list')).toBe(false);
    // Token mode: kcr-pull by name in every namespace, never a list or a read of another Secret.
    expect(allows(cluster, '', 'secrets', 'get', 'kcr-pull')).toBe(true);
    expect(allows(cluster, '', 'secrets', 'get', 'someone-elses')).toBe(false);
    expect(allows(cluster, '', 'secrets', 'list')).toBe(false);
    expect(allows(cluster, '', 'secrets', 'watch')).toBe(false);
  });

  it('runs the token service without API access, with the token keys mounted, and the webhook reads only the kcr-pull record', () => {
    const pod = get(find('Deployment', 'kcr-token-service'), 'spec', 'template', 'spec') as Obj;
    expect(pod.serviceAccountName).toBe('kcr-token-service');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(get(find('ServiceAccount', 'kcr-token-service'), 'automountServiceAccountToken')).toBe(false);
    expect(get(pod, 'volumes', 0, 'secret', 'secretName')).toBe('kcr-registry-token');
    const bound = docs.filter((d) => (kindOf(d) === 'RoleBinding' || kindOf(d) === 'ClusterRoleBinding') && (d.obj.subjects as { name: string }[]).some((x) => x.name === 'kcr-token-service'));
    expect(bound).toEqual([]);
    for (const name of ['kcr-controller', 'kcr-webhook']) expect(settingOf('Deployment', name, 'KCR_REGISTRY_AUTH'), name).toBe('token');
    const webhook = rulesOf('Role', 'kcr:webhook');
    expect(allows(webhook, '', 'configmaps', 'watch', 'kcr-pull-secrets')).toBe(true);
    expect(allows(webhook, '', 'configmaps', 'watch', 'other')).toBe(false);
  });

  it('lets the controller keep bare pods\' manifests in ConfigMaps of kcr-system, and nowhere else', () => {
    const cluster = rulesOf('ClusterRole', 'kcr:controller');
    const ns = rulesOf('Role', 'kcr:controller');
    expect(get(find('Role', 'kcr:controller'), 'metadata', 'namespace')).toBe('kcr-system');
    expect(get(find('RoleBinding', 'kcr:controller'), 'metadata', 'namespace')).toBe('kcr-system');
    for (const verb of ['create', 'get', 'list', 'delete']) {
      expect(allows(ns, '', 'configmaps', verb, 'kcr-restore-0b6c3a52'), verb).toBe(true);
      expect(allows(cluster, '', 'configmaps', verb, 'kcr-restore-0b6c3a52'), `cluster-wide ${verb}`).toBe(false);
    }
    // Never changed in place (a kept manifest is replaced whole) and never watched.
    for (const verb of ['update', 'patch', 'watch']) expect(allows(ns, '', 'configmaps', verb, 'kcr-restore-0b6c3a52'), verb).toBe(false);
  });
});

// ---------- ValidatingAdmissionPolicies ----------

describe('ValidatingAdmissionPolicies', () => {
  const policies = docs.filter((d) => kindOf(d) === 'ValidatingAdmissionPolicy');
  // kcr's namespace is the policy's param (the binding's paramRef names it), never a literal.
  const saUser = (name: string) => `request.userInfo.username == 'system:serviceaccount:' + params.metadata.name + ':${name}'`;

  it('each fails closed and has a Deny binding of the same name, installed by manifests/policies', () => {
    const listed = docs.find((d) => kindOf(d) === 'Kustomization' && relative(ROOT, d.file) === 'manifests/policies/kustomization.yaml')!;
    expect(policies.map(nameOf).sort()).toEqual(['kcr-agent-own-node-only', 'kcr-controller-node-restore-marks', 'kcr-controller-pod-writes', 'kcr-controller-secret-writes', 'kcr-objects-are-kcrs', 'kcr-same-namespace-pod-reference']);
    for (const p of policies) {
      expect(get(p.obj, 'spec', 'failurePolicy'), nameOf(p)).toBe('Fail');
      const binding = get(find('ValidatingAdmissionPolicyBinding', nameOf(p)), 'spec') as Obj;
      if (get(p.obj, 'spec', 'paramKind') === undefined) {
        expect(binding, nameOf(p)).toEqual({ policyName: nameOf(p), validationActions: ['Deny'] });
      } else {
        // The param is kcr's Namespace; once it is gone no kcr token is valid, so nothing is left to bound.
        expect(get(p.obj, 'spec', 'paramKind'), nameOf(p)).toEqual({ apiVersion: 'v1', kind: 'Namespace' });
        expect(binding, nameOf(p)).toEqual({ policyName: nameOf(p), validationActions: ['Deny'], paramRef: { name: 'kcr-system', parameterNotFoundAction: 'Allow' } });
      }
      expect(JSON.stringify(get(p.obj, 'spec')), `${nameOf(p)} names no namespace of kcr's`).not.toContain('kcr-system');
      expect(listed.obj.resources as string[]).toContain(relative(join(ROOT, 'manifests', 'policies'), p.file));
    }
  });

  it.each([
    ['kcr-agent-own-node-only', 'kcr-agent'],
    ['kcr-controller-node-restore-marks', 'kcr-controller'],
  ])('%s bounds Node updates by the %s ServiceAccount: no spec change, only restore.kcr.io keys', (policy, sa) => {
    const p = find('ValidatingAdmissionPolicy', policy);
    find('ServiceAccount', sa);
    expect(get(p, 'spec', 'matchConstraints', 'resourceRules')).toEqual([{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes'] }]);
    expect((get(p, 'spec', 'matchConditions') as { expression: string }[]).map((c) => c.expression)).toEqual([saUser(sa)]);
    const expressions = (get(p, 'spec', 'validations') as { expression: string }[]).map((v) => v.expression);
    expect(expressions).toContain('object.spec == oldObject.spec');
    expect(expressions.join('\n')).toContain('restore.kcr.io/capable-reason');
  });

  it('kcr-objects-are-kcrs covers every annotation kcr acts on, and exempts only kcr’s ServiceAccounts and system:masters', () => {
    const p = find('ValidatingAdmissionPolicy', 'kcr-objects-are-kcrs');
    const vars = Object.fromEntries((get(p, 'spec', 'variables') as { name: string; expression: string }[]).map((v) => [v.name, v.expression]));
    for (const key of [ANNOTATIONS.pinned, ANNOTATIONS.pinnedBy, ANNOTATIONS.targetNode, ANNOTATIONS.restoredFrom, ANNOTATIONS.identity, ANNOTATIONS.orphanedSince, CLAIM_ANNOTATION, CLAIM_HOLDER_ANNOTATION]) {
      expect(vars.kcrKeys, key).toContain(`'${key}'`);
    }
    for (const prefix of [ANNOTATIONS.restoredFromContainerPrefix, IN_PLACE_HISTORY_PREFIX]) expect(vars.kcrPrefixes, prefix).toContain(`'${prefix}'`);
    const condition = (get(p, 'spec', 'matchConditions') as { expression: string }[]).map((c) => c.expression).join('\n');
    for (const sa of ['kcr-controller', 'kcr-agent', 'kcr-webhook']) {
      find('ServiceAccount', sa);
      expect(condition).toContain(`'system:serviceaccount:' + params.metadata.name + ':${sa}'`);
    }
    expect(condition).toContain("'system:masters' in request.userInfo.groups");
  });

  it('user roles aggregate into view/edit/admin and never grant Checkpoint writes or any kcr status', () => {
    const view = find('ClusterRole', 'kcr-view');
    const edit = find('ClusterRole', 'kcr-edit');
    expect(get(view, 'metadata', 'labels')).toMatchObject({ 'rbac.authorization.k8s.io/aggregate-to-view': 'true', 'rbac.authorization.k8s.io/aggregate-to-edit': 'true', 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' });
    expect(get(edit, 'metadata', 'labels')).toMatchObject({ 'rbac.authorization.k8s.io/aggregate-to-edit': 'true', 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' });
    expect(get(edit, 'metadata', 'labels')).not.toHaveProperty(['rbac.authorization.k8s.io/aggregate-to-view']);
    for (const role of [view, edit]) {
      for (const rule of get(role, 'rules') as { resources: string[]; verbs: string[] }[]) {
        expect(rule.resources.some((r) => r.includes('/')), 'no subresources').toBe(false);
        if (rule.resources.includes('checkpoints')) expect(rule.verbs.filter((v) => ['create', 'update', 'patch'].includes(v))).toEqual([]);
      }
    }
  });

  it('kcr-controller-pod-writes lets a pod the controller creates hold a ServiceAccount token only of the default ServiceAccount', () => {
    const p = find('ValidatingAdmissionPolicy', 'kcr-controller-pod-writes');
    expect(get(p, 'spec', 'matchConstraints', 'resourceRules')).toEqual([{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['pods'] }]);
    expect((get(p, 'spec', 'matchConditions') as { expression: string }[]).map((c) => c.expression)).toEqual([saUser('kcr-controller')]);
    const vars = Object.fromEntries((get(p, 'spec', 'variables') as { name: string; expression: string }[]).map((v) => [v.name, v.expression]));
    expect(vars.serviceAccount).toContain('object.spec.serviceAccountName');
    expect(vars.serviceAccount).toContain("'default'");
    expect(vars.holdsToken).toContain('object.spec.automountServiceAccountToken');
    expect(vars.holdsToken).toContain('v.projected.sources.exists(s, has(s.serviceAccountToken))');
    const create = (get(p, 'spec', 'validations') as { expression: string; messageExpression?: string; reason: string }[]).filter((v) => v.expression.includes("request.operation != 'CREATE'"));
    expect(create).toEqual([expect.objectContaining({ expression: "request.operation != 'CREATE' || variables.serviceAccount == 'default' || !variables.holdsToken", reason: 'Forbidden' })]);
    expect(create[0]!.messageExpression).toContain('only without its token');
    expect(create[0]!.messageExpression).toContain('(kcr-controller-pod-writes)');
    // The code refuses the same pods before it deletes one, naming the same policy.
    expect(controllerCreateRefusal({ serviceAccountName: 'deployer', automountServiceAccountToken: true })).toContain('(kcr-controller-pod-writes)');
    expect(controllerCreateRefusal({ serviceAccountName: 'default', automountServiceAccountToken: true })).toBeUndefined();
  });

  it('lets the controller write restore.kcr.io/restore-failed and the agent not', () => {
    const validations = (policy: string) => (get(find('ValidatingAdmissionPolicy', policy), 'spec', 'validations') as { expression: string }[]).map((v) => v.expression).join('\n');
    expect(validations('kcr-controller-node-restore-marks')).toContain("k == 'restore.kcr.io/restore-failed'");
    expect(validations('kcr-agent-own-node-only')).not.toContain('restore-failed');
    // The controller's labels: restore.kcr.io/capable only (the runtime label is the agent's, the override the administrator's).
    expect(validations('kcr-controller-node-restore-marks')).not.toContain("startsWith('restore.kcr.io/')");
  });
});

// ---------- Redis ----------

describe('redis.conf', () => {
  const conf = new Map(
    readFileSync(join(ROOT, 'redis', 'redis.conf'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => {
        const [k, ...v] = l.split(/\s+/);
        return [k!.toLowerCase(), v.join(' ')] as const;
      }),
  );

  it('never evicts BullMQ keys and keeps an fsynced append-only file', () => {
    expect(conf.get('maxmemory-policy')).toBe('noeviction');
    expect(conf.get('appendonly')).toBe('yes');
    expect(conf.get('appendfsync')).toBe('everysec');
  });

  it('is the file the redis StatefulSet mounts, started through start-redis.sh', () => {
    const sts = find('StatefulSet', 'kcr-redis');
    expect(get(sts, 'spec', 'replicas')).toBe(1);
    expect(get(sts, 'spec', 'template', 'spec', 'containers', 0, 'command')).toEqual(['/bin/sh', '/etc/redis/start-redis.sh']);
    expect(get(sts, 'spec', 'template', 'spec', 'securityContext', 'runAsNonRoot')).toBe(true);
    expect(get(sts, 'spec', 'volumeClaimTemplates', 0, 'spec', 'resources', 'requests', 'storage')).toBeDefined();
  });

  it('holds no password and keeps protected mode on (a Redis started from it without one answers loopback only)', () => {
    expect(conf.has('requirepass')).toBe(false);
    expect(conf.has('masterauth')).toBe(false);
    expect(conf.get('protected-mode')).toBe('yes');
  });
});

describe('Redis requires the password of the Secret kcr-redis', () => {
  const script = readFileSync(join(ROOT, 'redis', 'start-redis.sh'), 'utf8');
  const code = script.split('\n').filter((l) => !l.trim().startsWith('#'));
  const pod = get(find('StatefulSet', 'kcr-redis'), 'spec', 'template', 'spec') as Obj;

  it('start-redis.sh is in the generated ConfigMap beside redis.conf', () => {
    const k = docs.find((d) => kindOf(d) === 'Kustomization' && relative(ROOT, d.file) === 'redis/kustomization.yaml')!.obj;
    expect(get(k, 'configMapGenerator', 0, 'name')).toBe('kcr-redis-config');
    expect(get(k, 'configMapGenerator', 0, 'files')).toEqual(['redis.conf', 'start-redis.sh']);
  });

  it('the password reaches redis-server through an included file, never its arguments', () => {
    expect(code.join('\n')).toMatch(/^exec redis-server "\$conf" --include "\$auth" "\$@"$/m);
    expect(code.join('\n')).not.toMatch(/--requirepass|redis-server[^\n]*\$password/);
    // printf is a shell builtin: no process gets the password as an argument while the file is written.
    expect(code.join('\n')).toMatch(/^printf 'requirepass "%s"\\n' "\$password" > "\$auth"$/m);
    expect(code.join('\n')).toMatch(/^umask 077$/m);
  });

  it('mounts the Secret, and writes the generated file to memory only', () => {
    const mounts = get(pod, 'containers', 0, 'volumeMounts') as { name: string; mountPath: string; readOnly?: boolean }[];
    const volumes = get(pod, 'volumes') as { name: string; secret?: { secretName: string; items?: unknown; defaultMode?: number }; emptyDir?: { medium?: string } }[];
    const at = (path: string) => volumes.find((v) => v.name === mounts.find((m) => m.mountPath === path)?.name);
    expect(at('/etc/kcr/redis')?.secret?.secretName).toBe('kcr-redis');
    expect(at('/etc/kcr/redis')?.secret?.items).toEqual([{ key: 'password', path: 'password' }]);
    expect((at('/etc/kcr/redis')?.secret?.defaultMode ?? 0o644) & 0o007).toBe(0);
    expect(get(pod, 'securityContext', 'fsGroup')).toBe(get(pod, 'securityContext', 'runAsUser'));
    expect(at('/run/kcr-redis')?.emptyDir?.medium).toBe('Memory');
    expect(script).toContain('${KCR_REDIS_PASSWORD_FILE:-/etc/kcr/redis/password}');
    expect(script).toContain('${KCR_REDIS_AUTH_CONF:-/run/kcr-redis/auth.conf}');
  });

  it('the readiness probe authenticates through REDISCLI_AUTH, not -a, and checks for PONG', () => {
    const probe = (get(pod, 'containers', 0, 'readinessProbe', 'exec', 'command') as string[]).join(' ');
    expect(probe).toContain('REDISCLI_AUTH="$(cat /etc/kcr/redis/password)"');
    expect(probe).not.toMatch(/\s-a\s|--pass/);
    expect(probe).toContain('grep -q PONG');
  });
});

// ---------- kubectl kustomize, when the control plane has been built ----------

const kubectlPath = toolPath('kubectl') ?? 'kubectl (not built)';
const haveKubectl = toolPath('kubectl') !== undefined;
const skipNote = haveKubectl ? '' : ` (SKIPPED: no kubectl at ${kubectlPath}; run test/cluster/controlplane/build.sh)`;

async function kustomize(dir: string): Promise<Obj[]> {
  const { stdout } = await promisify(execFile)(kubectlPath, ['kustomize', join(ROOT, dir)], { maxBuffer: 64 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((d) => {
    if (d.errors.length > 0) throw new Error(d.errors[0]!.message);
    return d.toJS() as Obj;
  });
}

describe(`kubectl kustomize${skipNote}`, () => {
  it.skipIf(!haveKubectl)('renders manifests/ with everything namespaced in kcr-system and the hashed Redis ConfigMap wired in', async () => {
    const objs = await kustomize('manifests');
    const kinds = new Set(objs.map((o) => o.kind));
    for (const k of ['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'Role', 'Deployment', 'DaemonSet', 'StatefulSet', 'Service', 'MutatingWebhookConfiguration', 'PodDisruptionBudget', 'ConfigMap']) {
      expect(kinds).toContain(k);
    }
    const clusterScoped = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
    for (const o of objs) {
      if (clusterScoped.has(String(o.kind))) expect(get(o, 'metadata', 'namespace'), `${String(o.kind)} is cluster-scoped`).toBeUndefined();
      else expect(get(o, 'metadata', 'namespace'), `${String(o.kind)}/${String(get(o, 'metadata', 'name'))}`).toBe('kcr-system');
    }
    const cm = objs.find((o) => o.kind === 'ConfigMap' && String(get(o, 'metadata', 'name')).startsWith('kcr-redis-config'))!;
    expect(get(cm, 'data', 'redis.conf')).toContain('maxmemory-policy noeviction');
    expect(get(cm, 'data', 'start-redis.sh')).toContain('exec redis-server');
    const sts = objs.find((o) => o.kind === 'StatefulSet')!;
    expect(get(sts, 'spec', 'template', 'spec', 'volumes', 0, 'configMap', 'name')).toBe(get(cm, 'metadata', 'name'));
  }, 60_000);

  it.skipIf(!haveKubectl)('renders redis/, the samples and the cert-manager overlay', async () => {
    const [redis, samples, overlay] = await Promise.all([kustomize('redis'), kustomize('manifests/samples'), kustomize('manifests/overlays/cert-manager')]);
    expect(redis.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'NetworkPolicy', 'Service', 'StatefulSet']);
    expect(samples.map((o) => o.kind).sort()).toEqual(['CheckpointRequest', 'CheckpointSchedule', 'Service', 'StatefulSet']);
    const dep = overlay.find((o) => o.kind === 'Deployment' && get(o, 'metadata', 'name') === 'kcr-webhook')!;
    const env = get(dep, 'spec', 'template', 'spec', 'containers', 0, 'env') as { name: string; value?: string }[];
    expect(env.find((e) => e.name === 'KCR_WEBHOOK_CERT_SOURCE')?.value).toBe('files');
    const mwc = overlay.find((o) => o.kind === 'MutatingWebhookConfiguration')!;
    expect(get(mwc, 'metadata', 'annotations', 'cert-manager.io/inject-ca-from')).toBe('kcr-system/kcr-webhook');
    expect(get(mwc, 'webhooks', 0, 'failurePolicy')).toBe('Ignore');
    expect(overlay.some((o) => o.kind === 'Certificate')).toBe(true);
  }, 60_000);

  it.skipIf(!haveKubectl)("installed into another namespace by an overlay's namespace:, nothing names kcr-system; with cert-manager, by the overlay's", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kcr-relocate-'));
    try {
      cpSync(join(ROOT, 'manifests'), join(dir, 'manifests'), { recursive: true });
      cpSync(join(ROOT, 'redis'), join(dir, 'redis'), { recursive: true });
      mkdirSync(join(dir, 'mine'));
      writeFileSync(join(dir, 'mine', 'kustomization.yaml'), 'namespace: platform-kcr\nresources: [../manifests]\n');
      const overlayFile = join(dir, 'manifests/overlays/cert-manager/kustomization.yaml');
      writeFileSync(overlayFile, readFileSync(overlayFile, 'utf8').replace(/^namespace: kcr-system$/m, 'namespace: platform-kcr'));
      for (const target of ['mine', 'manifests/overlays/cert-manager']) {
        const { stdout } = await promisify(execFile)(kubectlPath, ['kustomize', join(dir, target)], { maxBuffer: 64 * 1024 * 1024 });
        expect(stdout, target).not.toContain('kcr-system');
        const objs = parseAllDocuments(stdout).map((d) => d.toJS() as Obj);
        const mwc = objs.find((o) => o.kind === 'MutatingWebhookConfiguration')!;
        expect(get(mwc, 'webhooks', 0, 'clientConfig', 'service', 'namespace')).toBe('platform-kcr');
        for (const b of objs.filter((o) => o.kind === 'ValidatingAdmissionPolicyBinding' && get(o, 'spec', 'paramRef'))) expect(get(b, 'spec', 'paramRef', 'name')).toBe('platform-kcr');
        expect(get(objs.find((o) => o.kind === 'Namespace')!, 'metadata', 'name')).toBe('platform-kcr');
        if (target !== 'mine') {
          expect(get(objs.find((o) => o.kind === 'Certificate')!, 'spec', 'dnsNames')).toContain('kcr-webhook.platform-kcr.svc');
          expect(get(mwc, 'metadata', 'annotations', 'cert-manager.io/inject-ca-from')).toBe('platform-kcr/kcr-webhook');
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it.skipIf(!haveKubectl)('renders manifests/monitoring: three ServiceMonitors, the rules and the dashboard ConfigMap, in kcr-system', async () => {
    const monitoring = await kustomize('manifests/monitoring');
    expect(monitoring.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'PrometheusRule', 'ServiceMonitor', 'ServiceMonitor', 'ServiceMonitor']);
    for (const o of monitoring) expect(get(o, 'metadata', 'namespace')).toBe('kcr-system');
    const cm = monitoring.find((o) => o.kind === 'ConfigMap')!;
    expect(get(cm, 'metadata', 'name')).toBe('kcr-grafana-dashboard');
    expect(get(cm, 'metadata', 'labels', 'grafana_dashboard')).toBe('1');
    expect(get(cm, 'data', 'kcr.json')).toBe(readFileSync(join(ROOT, 'manifests/monitoring/grafana-dashboard.json'), 'utf8'));
  }, 60_000);
});

// ---------- the image ----------

/** Top-level directories the runtime code imports from, following relative imports from src/main.ts. */
function runtimeTopDirs(): Set<string> {
  const seen = new Set<string>();
  const dirs = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    dirs.add(relative(ROOT, file).split('/')[0]!);
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from\s+|import\()\s*'(\.{1,2}\/[^']+)'/g)) {
      visit(join(dirname(file), m[1]!));
    }
  };
  visit(join(ROOT, 'src', 'main.ts'));
  // Sub-commands are loaded through import('./commands/<name>.ts').
  for (const f of readdirSync(join(ROOT, 'src', 'commands'))) visit(join(ROOT, 'src', 'commands', f));
  return dirs;
}

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());

  it('copies every top-level directory the runtime imports, and .dockerignore lets it through', () => {
    const dirs = runtimeTopDirs();
    expect(dirs).toContain('src');
    for (const d of dirs) {
      expect(dockerfile, `Dockerfile copies ${d}/`).toMatch(new RegExp(`^COPY ${d} \\./${d}$`, 'm'));
      expect(dockerignore, `.dockerignore re-includes ${d}`).toContain(`!${d}`);
    }
  });

  it('runs the compiled src/main.js (npm run build) with Node 24 as uid 65532, production dependencies only', () => {
    expect(dockerfile).toMatch(/^FROM node:24-/m);
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
    expect(dockerfile).toMatch(/^RUN npx tsc -p tsconfig\.build\.json$/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/build\/ \.\/$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "src\/main\.js"\]$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    // tsconfig.build.json compiles exactly the directories the runtime imports.
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '')) as { include: string[]; compilerOptions: { outDir: string } };
    expect(new Set(build.include)).toEqual(runtimeTopDirs());
    expect(build.compilerOptions.outDir).toBe('build');
    for (const f of ['tsconfig.json', 'tsconfig.build.json']) expect(dockerignore, `.dockerignore lets ${f} through`).toContain(`!${f}`);
  });

  it('npm run build compiles the runtime into build/, and the compiled kcr runs', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kcr-build-'));
    try {
      await promisify(execFile)(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out], { cwd: ROOT });
      cpSync(join(ROOT, 'package.json'), join(out, 'package.json'));
      symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'));
      const { stdout } = await promisify(execFile)(process.execPath, [join(out, 'src/main.js'), '--help']);
      expect(stdout).toContain('webhook');
      expect(stdout).toContain('controller');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});

// ---------- metrics and monitoring ----------

/** Every series name the components' registries expose (a histogram as _bucket, _sum, _count). */
function registeredNames(...registries: Registry[]): Set<string> {
  const names = new Set<string>();
  for (const r of registries) {
    for (const m of r.getMetricsAsArray()) {
      const { name, type } = m as unknown as { name: string; type: string };
      names.add(name);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    }
  }
  return names;
}

const REGISTERED = registeredNames(createAgentMetrics().registry, createControllerMetrics().registry, createWebhookMetrics().registry);
/** The kcr_ metric names a PromQL expression uses. */
const kcrMetricsIn = (expr: string): string[] => [...new Set(expr.match(/\bkcr_[a-z0-9_]+/g) ?? [])];

const COMPONENTS = [
  { component: 'webhook', kind: 'Deployment', name: 'kcr-webhook' },
  { component: 'controller', kind: 'Deployment', name: 'kcr-controller' },
  { component: 'agent', kind: 'DaemonSet', name: 'kcr-agent' },
] as const;

describe('metrics ports and liveness', () => {
  for (const c of COMPONENTS) {
    describe(c.name, () => {
      const pod = get(find(c.kind, c.name), 'spec', 'template') as Obj;
      const container = (get(pod, 'spec', 'containers') as Obj[])[0]!;
      const env = container.env as { name: string; value?: string }[];
      const ports = container.ports as { name: string; containerPort: number }[];

      it('names a metrics containerPort, the port KCR_METRICS_PORT serves on', () => {
        const metrics = ports.find((p) => p.name === 'metrics');
        expect(metrics).toBeDefined();
        expect(env.find((e) => e.name === 'KCR_METRICS_PORT')?.value).toBe(String(metrics!.containerPort));
        // Apart from its other ports (the webhook's TLS, the health port).
        expect(ports.filter((p) => p.containerPort === metrics!.containerPort)).toHaveLength(1);
      });

      it(`has a Service kcr-${c.component}-metrics selecting its pods, to the metrics port`, () => {
        const svc = find('Service', `kcr-${c.component}-metrics`);
        const selector = get(svc, 'spec', 'selector') as Record<string, string>;
        const labels = get(pod, 'metadata', 'labels') as Record<string, string>;
        for (const [k, v] of Object.entries(selector)) expect(labels[k], k).toBe(v);
        expect(get(svc, 'spec', 'ports', 0, 'targetPort')).toBe('metrics');
        expect(get(svc, 'spec', 'ports', 0, 'name')).toBe('metrics');
      });
    });
  }

  for (const c of COMPONENTS.filter((x) => x.component !== 'webhook')) {
    it(`${c.name}'s livenessProbe asks /livez on its health port`, () => {
      const container = (get(find(c.kind, c.name), 'spec', 'template', 'spec', 'containers') as Obj[])[0]!;
      expect(get(container, 'livenessProbe', 'httpGet', 'path')).toBe('/livez');
      expect(get(container, 'livenessProbe', 'httpGet', 'port')).toBe('health');
      const health = (container.ports as { name: string; containerPort: number }[]).find((p) => p.name === 'health');
      expect((container.env as { name: string; value?: string }[]).find((e) => e.name === 'KCR_HEALTH_PORT')?.value).toBe(String(health?.containerPort));
    });
  }
});

describe('metrics authentication (KCR_METRICS_AUTH=kubernetes)', () => {
  it('lets the webhook, controller and agent review tokens and access, and offers a reader role for Prometheus', () => {
    const auth = rulesOf('ClusterRole', 'kcr:metrics-auth');
    expect(allows(auth, 'authentication.k8s.io', 'tokenreviews', 'create')).toBe(true);
    expect(allows(auth, 'authorization.k8s.io', 'subjectaccessreviews', 'create')).toBe(true);
    const binding = find('ClusterRoleBinding', 'kcr:metrics-auth');
    expect((binding.subjects as { name: string }[]).map((s) => s.name).sort()).toEqual(['kcr-agent', 'kcr-controller', 'kcr-webhook']);
    expect(find('ClusterRole', 'kcr:metrics-reader').rules).toEqual([{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
  });
});

describe('manifests/monitoring (optional, prometheus-operator)', () => {
  const kustomization = docs.find((d) => relative(ROOT, d.file) === 'manifests/monitoring/kustomization.yaml')!.obj;
  const monitoring = docs.filter((d) => relative(ROOT, dirname(d.file)) === 'manifests/monitoring');
  const rules = monitoring.filter((d) => kindOf(d) === 'PrometheusRule');
  const alerts = rules.flatMap((d) => (get(d.obj, 'spec', 'groups') as { rules: { alert?: string; expr: string }[] }[]).flatMap((g) => g.rules));
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'manifests/monitoring/grafana-dashboard.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };

  it('is not part of the default install (it needs prometheus-operator\'s CRDs)', () => {
    const top = docs.find((d) => relative(ROOT, d.file) === 'manifests/kustomization.yaml')!.obj;
    expect((top.resources as string[]).some((r) => r.includes('monitoring'))).toBe(false);
  });

  it('has a ServiceMonitor for each component\'s metrics Service, on its metrics port', () => {
    const monitors = monitoring.filter((d) => kindOf(d) === 'ServiceMonitor');
    for (const c of COMPONENTS) {
      const svc = find('Service', `kcr-${c.component}-metrics`);
      const svcLabels = get(svc, 'metadata', 'labels') as Record<string, string>;
      const selecting = monitors.filter((m) => Object.entries(get(m.obj, 'spec', 'selector', 'matchLabels') as Record<string, string>).every(([k, v]) => svcLabels[k] === v));
      expect(selecting.map(nameOf), c.component).toEqual([`kcr-${c.component}-metrics-monitor`]);
      expect(get(selecting[0]!.obj, 'spec', 'endpoints', 0, 'port')).toBe('metrics');
      expect(get(selecting[0]!.obj, 'spec', 'endpoints', 0, 'path')).toBe('/metrics');
    }
  });

  it('alerts on failing checkpoints, a schedule not firing, no leader, the webhook unavailable, Redis unreachable and registry errors', () => {
    expect(alerts.map((a) => a.alert)).toEqual(expect.arrayContaining([
      'KcrCheckpointsFailing', 'KcrScheduleNotFiring', 'KcrNoLeader', 'KcrWebhookUnavailable', 'KcrRedisUnreachable', 'KcrRegistryErrors',
    ]));
    const expr = (name: string) => alerts.find((a) => a.alert === name)!.expr;
    expect(kcrMetricsIn(expr('KcrCheckpointsFailing'))).toEqual(['kcr_checkpoint_failures_total']);
    expect(kcrMetricsIn(expr('KcrRedisUnreachable'))).toEqual(['kcr_redis_up']);
    expect(kcrMetricsIn(expr('KcrRegistryErrors'))).toEqual(['kcr_registry_errors_total']);
    expect(kcrMetricsIn(expr('KcrNoLeader'))).toEqual(['kcr_leader']);
    // No series at all (every replica down) must alert too, not only a 0.
    expect(expr('KcrNoLeader')).toContain('or vector(0)');
    expect(expr('KcrWebhookUnavailable')).toContain('or vector(0)');
  });

  it('names in every alert only metrics the code registers, read from the components\' registries', () => {
    expect(REGISTERED.has('kcr_checkpoint_duration_seconds_bucket')).toBe(true);
    for (const a of alerts) {
      const used = kcrMetricsIn(a.expr);
      expect(used.length, a.alert).toBeGreaterThan(0);
      for (const m of used) expect(REGISTERED.has(m), `${a.alert}: ${m}`).toBe(true);
    }
  });

  it('ships the Grafana dashboard as a ConfigMap labelled grafana_dashboard: "1", its queries on registered metrics only', () => {
    const gen = (kustomization.configMapGenerator as { name: string; files: string[]; options?: { labels?: Record<string, string>; disableNameSuffixHash?: boolean } }[])[0]!;
    expect(gen.files.some((f) => f.endsWith('=grafana-dashboard.json'))).toBe(true);
    expect(gen.options?.labels?.grafana_dashboard).toBe('1');
    expect(gen.options?.disableNameSuffixHash).toBe(true);
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(10);
    for (const { panel, expr } of exprs) {
      const used = kcrMetricsIn(expr);
      expect(used.length, panel).toBeGreaterThan(0);
      for (const m of used) expect(REGISTERED.has(m), `${panel}: ${m}`).toBe(true);
    }
  });
});
