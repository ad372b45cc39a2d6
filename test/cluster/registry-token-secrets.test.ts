// The controller's token-mode Secrets against the real API server: kcr-registry-token is made
// once (two controllers racing get the same keys), a Secret kcr did not make is never
// rewritten or deleted, kcr's own is rewritten only when its content changes, and the kcr-pull
// keeper creates, rotates (by the clock it is given) and removes them, with its record.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteOwnSecret, ensureTokenKeys, upsertDockerConfigSecret } from '../../src/controller/registry-token-secrets.ts';
import { kubeJson, type KubeJson } from '../../src/kube/kube-json.ts';
import { TOKEN_KEYS_SECRET } from '../../src/registry-access/token-keys.ts';
import { ObjectCache } from '../../src/controller/object-cache.ts';
import { PullSecretKeeper } from '../../src/controller/pull-secret-keeper.ts';
import { PULL_SECRETS_RECORD, parsePullSecretRecord } from '../../src/registry-access/pull-secret-plan.ts';
import { credentialEpoch, identify } from '../../src/registry-access/registry-identity.ts';
import { silentLogger } from '../../src/log.ts';
import { clientsFor, createNamespace, deleteNamespace, testCluster, type Clients } from './cluster-clients.ts';

let admin: Clients;
let api: KubeJson;
let ns: string;
const now = new Date('2026-12-03T12:00:00Z');

beforeAll(async () => {
  admin = clientsFor(testCluster().kubeconfig);
  api = kubeJson(admin.kc);
  ns = await createNamespace(admin.core, 'kcr-token-secrets');
});

afterAll(async () => {
  if (ns) await deleteNamespace(admin.core, ns);
});

describe('kcr-registry-token', () => {
  it('is made once: two controllers starting together end up with the same keys', async () => {
    const [x, y] = await Promise.all([ensureTokenKeys(api, ns, now), ensureTokenKeys(api, ns, now)]);
    expect([x.created, y.created].filter(Boolean)).toHaveLength(1);
    expect(x.keys.credentialKey.equals(y.keys.credentialKey)).toBe(true);
    expect(x.keys.signing.keyId).toBe(y.keys.signing.keyId);
    const again = await ensureTokenKeys(api, ns, now);
    expect(again.created).toBe(false);
    expect(again.keys.signing.keyId).toBe(x.keys.signing.keyId);
  });

  it('one without its keys is an error naming what is missing, and is left as it is', async () => {
    const other = await createNamespace(admin.core, 'kcr-token-broken');
    try {
      await admin.core.createNamespacedSecret({ namespace: other, body: { metadata: { name: TOKEN_KEYS_SECRET }, stringData: { 'tls.crt': 'x' } } });
      await expect(ensureTokenKeys(api, other, now)).rejects.toThrow(/lacks tls.crt, tls.key or credential-key/);
      expect(Object.keys((await admin.core.readNamespacedSecret({ name: TOKEN_KEYS_SECRET, namespace: other })).data ?? {})).toEqual(['tls.crt']);
    } finally {
      await deleteNamespace(admin.core, other);
    }
  });
});

describe('a dockerconfigjson Secret kcr keeps', () => {
  const target = () => ({ namespace: ns, name: 'kcr-pull', label: 'kcr.io/pull-secret' });

  it('is created, left alone while it is right, rewritten when the credential changes, and deleted', async () => {
    expect(await upsertDockerConfigSecret(api, target(), 'reg.example', { username: 'u', password: 'p1' })).toBe('created');
    const rv = (await admin.core.readNamespacedSecret({ name: 'kcr-pull', namespace: ns })).metadata?.resourceVersion;
    expect(await upsertDockerConfigSecret(api, target(), 'reg.example', { username: 'u', password: 'p1' })).toBe('unchanged');
    expect((await admin.core.readNamespacedSecret({ name: 'kcr-pull', namespace: ns })).metadata?.resourceVersion).toBe(rv);
    expect(await upsertDockerConfigSecret(api, target(), 'reg.example', { username: 'u', password: 'p2' })).toBe('updated');
    const s = await admin.core.readNamespacedSecret({ name: 'kcr-pull', namespace: ns });
    expect(s.type).toBe('kubernetes.io/dockerconfigjson');
    expect(Buffer.from(s.data!['.dockerconfigjson']!, 'base64').toString()).toContain('"password":"p2"');
    expect(await deleteOwnSecret(api, ns, 'kcr-pull', 'kcr.io/pull-secret')).toBe('deleted');
    expect(await deleteOwnSecret(api, ns, 'kcr-pull', 'kcr.io/pull-secret')).toBe('absent');
  });

  it("is never written over, nor deleted, when it is somebody else's", async () => {
    const data = { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') };
    await admin.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'kcr-pull' }, type: 'kubernetes.io/dockerconfigjson', data } });
    expect(await upsertDockerConfigSecret(api, target(), 'reg.example', { username: 'u', password: 'p' })).toBe('foreign');
    expect(await deleteOwnSecret(api, ns, 'kcr-pull', 'kcr.io/pull-secret')).toBe('foreign');
    expect((await admin.core.readNamespacedSecret({ name: 'kcr-pull', namespace: ns })).data).toEqual(data);
  });
});

describe('the kcr-pull keeper', () => {
  it('gives a namespace with checkpoints its Secret, rewrites it when the period turns, and removes it with the last checkpoint', async () => {
    const kcr = await createNamespace(admin.core, 'kcr-keeper-home');
    const tenant = await createNamespace(admin.core, 'kcr-keeper-tenant');
    try {
      const key = Buffer.alloc(32, 3);
      const cache = new ObjectCache();
      const events: string[] = [];
      const keeper = new PullSecretKeeper({
        api, cache, logger: silentLogger(), namespace: kcr, registry: 'reg.example:5000', rotationSeconds: 3600, verifyIntervalMs: 86_400_000,
        events: { event: async (_o, _t, reason) => void events.push(reason) },
        credentialKey: async () => key,
      });
      const readPull = async () => {
        const s = await admin.core.readNamespacedSecret({ name: 'kcr-pull', namespace: tenant }).catch(() => undefined);
        if (!s) return undefined;
        const auth = (JSON.parse(Buffer.from(s.data!['.dockerconfigjson']!, 'base64').toString()) as { auths: Record<string, { auth: string }> }).auths['reg.example:5000']!.auth;
        const [username = '', password = ''] = Buffer.from(auth, 'base64').toString().split(':');
        return { username, password };
      };
      const recorded = async () => parsePullSecretRecord((await admin.core.readNamespacedConfigMap({ name: PULL_SECRETS_RECORD, namespace: kcr }).catch(() => undefined))?.data);

      const t0 = new Date('2026-12-03T10:10:00Z');
      await keeper.sync(t0);
      expect(await readPull()).toBeUndefined();
      cache.upsert('Checkpoint', { metadata: { name: 'cp', namespace: tenant } });
      await keeper.sync(t0);
      const first = (await readPull())!;
      expect(identify(key, first, t0, 3600)).toEqual({ kind: 'namespace-puller', namespace: tenant });
      expect((await recorded()).get(tenant)).toEqual({ epoch: credentialEpoch(t0, 3600), rotationSeconds: 3600 });

      const t1 = new Date(t0.getTime() + 3600_000);
      await keeper.sync(t1);
      const second = (await readPull())!;
      expect(second.password).not.toBe(first.password);
      expect(identify(key, second, t1, 3600)).toEqual({ kind: 'namespace-puller', namespace: tenant });
      // The old one still works for one period (a pod created just before the change still pulls).
      expect(identify(key, first, t1, 3600)).toEqual({ kind: 'namespace-puller', namespace: tenant });
      expect((await recorded()).get(tenant)?.epoch).toBe(credentialEpoch(t1, 3600));

      cache.remove('Checkpoint', { metadata: { name: 'cp', namespace: tenant } });
      await keeper.sync(t1);
      expect(await readPull()).toBeUndefined();
      expect((await recorded()).has(tenant)).toBe(false);
      expect(events).toEqual([]);
    } finally {
      await deleteNamespace(admin.core, tenant);
      await deleteNamespace(admin.core, kcr);
    }
  });
});
