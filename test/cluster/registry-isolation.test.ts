// Checkpoints are memory dumps: with kcr's token service in front of the real registry, each
// namespace reaches only its own. A hostile tenant holding namespace A's kcr-pull credential
// (anyone who can read or mount Secrets in A) attacks B's checkpoints with skopeo, an
// independent client; a Checkpoint in A pointing at B's image (made by a cluster admin, the
// only one the policies let) is neither restored into A's pods nor deleted by retention; and a
// Secret of a user's that is named kcr-pull is never overwritten (the pod starts fresh instead).
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { ANNOTATIONS, API_VERSION, PLURALS, type Checkpoint } from '../../src/api/types.ts';
import { PULL_SECRETS_RECORD, PULL_SECRET_LABEL, PULL_SECRET_NAME, parsePullSecretRecord } from '../../src/registry-access/pull-secret-plan.ts';
import { inspectImage } from '../support/checkpoint-image.ts';
import { createNamespace, deleteNamespace, eventually, setStatus } from './cluster-clients.ts';
import { openE2eWorld } from './e2e-stack.ts';
import { E2eWorld, restoredFromOf } from './e2e-world.ts';
import { KCR_NAMESPACE } from './kcr-in-cluster.ts';
import { webhookAdmissions } from './kcr-stack.ts';

const OPTED_IN = { [ANNOTATIONS.restore]: 'true' };
let e2e: Awaited<ReturnType<typeof openE2eWorld>>;
let a: E2eWorld;
let b: E2eWorld;
let cpA: Checkpoint;
let cpB: Checkpoint;
let podA: V1Pod;
let credsA: string;

async function pullSecret(w: E2eWorld): Promise<{ username: string; password: string; labels: Record<string, string> }> {
  return eventually(`kcr-pull in ${w.ns}`, async () => {
    const s = await w.admin.core.readNamespacedSecret({ name: PULL_SECRET_NAME, namespace: w.ns }).catch(() => undefined);
    const raw = s?.data?.['.dockerconfigjson'];
    if (!raw) return undefined;
    const doc = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths: Record<string, { auth: string }> };
    const auth = Buffer.from(doc.auths[w.stack.registry.host]!.auth, 'base64').toString('utf8');
    const i = auth.indexOf(':');
    return { username: auth.slice(0, i), password: auth.slice(i + 1), labels: s?.metadata?.labels ?? {} };
  }, 60_000, 250);
}

async function record(w: E2eWorld): Promise<Set<string>> {
  const cm = await w.admin.core.readNamespacedConfigMap({ name: PULL_SECRETS_RECORD, namespace: KCR_NAMESPACE }).catch(() => undefined);
  return new Set(parsePullSecretRecord(cm?.data).keys());
}

const repoOf = (image: string) => /^[^/]+\/(.+)@sha256:[a-f0-9]{64}$/.exec(image)![1]!;
const harness = () => ({ authFile: a.stack.registry.authFile!, insecure: true });

async function webhookReasons(reason: string): Promise<number> {
  return (await webhookAdmissions(a.stack.webhook.replicaUrls, { reason })).reduce((x, y) => x + y, 0);
}

beforeAll(async () => {
  e2e = await openE2eWorld('reg-a');
  a = e2e.world;
  b = new E2eWorld(a.admin, a.stack, await createNamespace(a.admin.core, 'reg-b'));
  for (const w of [a, b]) await w.createStatefulSet('db', { podAnnotations: OPTED_IN });
  podA = await a.runningPod('db-0');
  await b.runningPod('db-0');
  cpA = await a.checkpointNow('db-now', 'db-0');
  cpB = await b.checkpointNow('db-now', 'db-0');
  const s = await pullSecret(a);
  credsA = `${s.username}:${s.password}`;
}, 600_000);

afterAll(async () => {
  if (b) await deleteNamespace(b.admin.core, b.ns);
  await e2e?.close();
});

describe('kcr-pull: one pull-only credential per namespace, made by kcr', () => {
  it('each namespace with checkpoints has its own, labelled as kcr’s and recorded for the webhook', async () => {
    const [sa, sb] = [await pullSecret(a), await pullSecret(b)];
    expect(sa.username).toBe(`kcr-pull.${a.ns}`);
    expect(sb.username).toBe(`kcr-pull.${b.ns}`);
    expect(sa.password).not.toBe(sb.password);
    expect(sa.labels[PULL_SECRET_LABEL]).toBe('true');
    const listed = await eventually('the record to list both', async () => {
      const r = await record(a);
      return r.has(a.ns) && r.has(b.ns) ? r : undefined;
    });
    expect(listed.has(KCR_NAMESPACE)).toBe(false);
  });

  it("a deleted pod's replacement pulls its checkpoint with kcr-pull and continues from it", async () => {
    await a.admin.core.deleteNamespacedPod({ name: 'db-0', namespace: a.ns });
    const replacement = await a.runningPod('db-0', podA.metadata!.uid);
    expect(restoredFromOf(replacement)).toBe(cpA.metadata.name);
    expect(replacement.spec?.imagePullSecrets).toContainEqual({ name: PULL_SECRET_NAME });
    await a.expectContinuedFrom(replacement, cpA.status!.runtimeImage!);
    podA = replacement;
  }, 300_000);
});

describe("with namespace A's kcr-pull credential (skopeo)", () => {
  it("reads A's own checkpoint image", async () => {
    expect((await inspectImage(cpA.status!.runtimeImage!, { creds: credsA, insecure: true })).outcome).toBe('found');
  });

  it("cannot read B's checkpoint image, nor list B's tags", async () => {
    const read = await inspectImage(cpB.status!.runtimeImage!, { creds: credsA, insecure: true });
    expect(read.outcome).toBe('refused');
    const tags = await run(['list-tags', '--tls-verify=false', '--creds', credsA, `docker://${b.stack.registry.host}/${repoOf(cpB.status!.runtimeImage!)}`]);
    expect(tags.ok).toBe(false);
    // The harness (kcr's writer) still reads it: the refusal is A's, not a broken image.
    expect((await inspectImage(cpB.status!.runtimeImage!, harness())).outcome).toBe('found');
  });

  it('cannot list the catalog', async () => {
    const first = await fetch(`${a.stack.registry.url}/v2/_catalog`);
    expect(first.status).toBe(401);
    const [user = '', ...rest] = credsA.split(':');
    const token = await fetch(`${a.stack.registry.tokenUrl}/token?service=kcr-registry&scope=registry:catalog:*`, {
      headers: { authorization: `Basic ${Buffer.from(`${user}:${rest.join(':')}`).toString('base64')}` },
    }).then((r) => r.json() as Promise<{ token: string }>);
    const listed = await fetch(`${a.stack.registry.url}/v2/_catalog`, { headers: { authorization: `Bearer ${token.token}` } });
    expect(listed.status).toBe(401);
  });

  it("cannot push into B's repository, nor into A's own", async () => {
    for (const target of [repoOf(cpB.status!.runtimeImage!), repoOf(cpA.status!.runtimeImage!)]) {
      const r = await run(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--src-creds', credsA, '--dest-creds', credsA,
        `docker://${cpA.status!.runtimeImage!}`, `docker://${a.stack.registry.host}/${target}:planted`]);
      expect(r.ok, target).toBe(false);
      expect((await inspectImage(`${a.stack.registry.host}/${target}:planted`, harness())).outcome).toBe('unknown');
    }
  });

  it("cannot delete B's checkpoint image", async () => {
    const r = await run(['delete', '--tls-verify=false', '--creds', credsA, `docker://${cpB.status!.runtimeImage!}`]);
    expect(r.ok).toBe(false);
    expect((await inspectImage(cpB.status!.runtimeImage!, harness())).outcome).toBe('found');
  });
});

describe("a Checkpoint in A naming B's image (a cluster admin's, the only one the policies allow)", () => {
  const forged = (name: string, timestamp: string, phase: string): Checkpoint => ({
    apiVersion: API_VERSION,
    kind: 'Checkpoint',
    metadata: { name, namespace: a.ns },
    spec: { ...cpA.spec, checkpointTimestamp: timestamp },
    status: { ...cpA.status!, phase: phase as never, runtimeImage: cpB.status!.runtimeImage! },
  } as Checkpoint);

  async function createForged(cp: Checkpoint): Promise<void> {
    await a.admin.custom.createNamespacedCustomObject({ ...a.custom(PLURALS.Checkpoint), body: { ...cp, status: undefined } });
    await setStatus(a.admin, { ...a.custom(PLURALS.Checkpoint), name: cp.metadata.name! }, cp.status as unknown as Record<string, unknown>);
  }

  it("is never restored into A's pod, even when it is the newest", async () => {
    await createForged(forged('forged-newest', new Date(Date.now() + 60_000).toISOString(), cpA.status!.phase!));
    await a.admin.core.deleteNamespacedPod({ name: 'db-0', namespace: a.ns });
    const replacement = await a.runningPod('db-0', podA.metadata!.uid);
    expect(restoredFromOf(replacement)).not.toBe('forged-newest');
    for (const c of replacement.spec!.containers) expect(c.image).not.toBe(cpB.status!.runtimeImage);
    podA = replacement;
  }, 300_000);

  it('is deleted by retention without its image: B’s checkpoint stays in the registry', async () => {
    // Older than A's good checkpoint and failed: retention deletes it at its next pass.
    await createForged(forged('forged-failed', new Date(Date.parse(cpA.spec.checkpointTimestamp ?? cpA.metadata.creationTimestamp!) - 60_000).toISOString(), 'Failed'));
    await eventually('retention to delete forged-failed', async () => ((await a.checkpoint('forged-failed')) === undefined ? true : undefined), 60_000, 500);
    // Give a deferred manifest delete its chance to run, then look.
    await new Promise((r) => setTimeout(r, 5000));
    expect((await inspectImage(cpB.status!.runtimeImage!, harness())).outcome).toBe('found');
  }, 120_000);
});

describe('a pod that opted out of checkpoints', () => {
  it('is not dumped on a teammate’s request: the request fails with that reason and no archive is written on any node', async () => {
    await a.createStatefulSet('private', { podAnnotations: { ...OPTED_IN, [ANNOTATIONS.checkpoint]: 'false' } });
    await a.runningPod('private-0');
    await a.createRequest('dump-it', 'private-0');
    const failed = await eventually('the request to fail', async () => {
      const r = (await a.admin.custom.getNamespacedCustomObject({ ...a.custom(PLURALS.CheckpointRequest), name: 'dump-it' })) as { status?: { phase?: string; message?: string } };
      return r.status?.phase === 'Failed' ? r : undefined;
    }, 60_000, 250);
    expect(failed.status?.message).toContain('opted out of checkpoints');
    for (const n of a.stack.nodes) {
      const archives = (await readdir(n.checkpointDir).catch(() => [] as string[])).filter((f) => f.includes('private-0'));
      expect(archives, n.name).toEqual([]);
    }
  }, 120_000);
});

describe('a Secret named kcr-pull that kcr did not make', () => {
  it('is left as it is, and the namespace’s pods start fresh (no-pull-secret) instead of failing to pull', async () => {
    const c = new E2eWorld(a.admin, a.stack, await createNamespace(a.admin.core, 'reg-c'));
    try {
      const own = { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { 'elsewhere.example': { auth: Buffer.from('me:mine').toString('base64') } } })).toString('base64') };
      await c.admin.core.createNamespacedSecret({ namespace: c.ns, body: { metadata: { name: PULL_SECRET_NAME }, type: 'kubernetes.io/dockerconfigjson', data: own } });
      await c.createStatefulSet('db', { podAnnotations: OPTED_IN });
      const first = await c.runningPod('db-0');
      await c.checkpointNow('db-now', 'db-0');
      const before = await webhookReasons('no-pull-secret');
      await c.admin.core.deleteNamespacedPod({ name: 'db-0', namespace: c.ns });
      const replacement = await c.runningPod('db-0', first.metadata!.uid);
      expect(restoredFromOf(replacement)).toBeUndefined();
      expect(await webhookReasons('no-pull-secret')).toBeGreaterThan(before);
      const still = await c.admin.core.readNamespacedSecret({ name: PULL_SECRET_NAME, namespace: c.ns });
      expect(still.data).toEqual(own);
      expect((await record(c)).has(c.ns)).toBe(false);
    } finally {
      await deleteNamespace(c.admin.core, c.ns);
    }
  }, 300_000);
});

describe('when a namespace has no checkpoints left', () => {
  it('kcr removes its kcr-pull and its entry in the record', async () => {
    for (const plural of [PLURALS.CheckpointRequest, PLURALS.Checkpoint]) {
      const list = (await b.admin.custom.listNamespacedCustomObject(b.custom(plural))) as { items: Checkpoint[] };
      for (const o of list.items) await b.admin.custom.deleteNamespacedCustomObject({ ...b.custom(plural), name: o.metadata.name! });
    }
    await eventually('kcr-pull in B to go', async () => {
      const s = await b.admin.core.readNamespacedSecret({ name: PULL_SECRET_NAME, namespace: b.ns }).catch(() => undefined);
      return s === undefined ? true : undefined;
    }, 60_000, 500);
    expect((await record(b)).has(b.ns)).toBe(false);
    expect((await record(a)).has(a.ns)).toBe(true);
  }, 120_000);
});

async function run(args: string[]): Promise<{ ok: boolean; error: string }> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile('skopeo', args, { timeout: 30_000 }, (err, _out, stderr) => resolve({ ok: !err, error: String(stderr) }));
  });
}
