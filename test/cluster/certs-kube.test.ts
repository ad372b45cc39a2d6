// The certs adapters against a real kube-apiserver: the Secret store's 409 paths,
// two replicas racing for the Secret, and caBundle publishing into a real
// MutatingWebhookConfiguration.
import { X509Certificate, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bundleFromSecretData,
  bundleToSecretData,
  ensureServingCertificate,
  generateCertificateBundle,
  kubeCaBundleTarget,
  kubeSecretStore,
  publishCaBundle,
  splitPemBundle,
  type SecretStore,
} from '../../certs/index.ts';
import { clientsFor, createNamespace, deleteNamespace, expectApiError, testCluster, type Clients } from './cluster-clients.ts';
import { kubeJson } from '../../src/kube/kube-json.ts';

const cluster = testCluster();
let admin: Clients;
let ns: string;
let secrets: SecretStore;
const configName = `kcr-certs-test-${randomBytes(3).toString('hex')}`;

const make = (now = new Date()) =>
  generateCertificateBundle({ serviceName: 'kcr-webhook', namespace: 'x', validityDays: 30, now });

beforeAll(async () => {
  admin = clientsFor(cluster.kubeconfig);
  ns = await createNamespace(admin.core, 'kcr-certs');
  secrets = kubeSecretStore(kubeJson(admin.kc));
});

afterAll(async () => {
  if (admin) {
    await admin.admission.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
    if (ns) await deleteNamespace(admin.core, ns);
  }
});

describe('kubeSecretStore', () => {
  it('reads a missing Secret as undefined and round-trips a bundle as a kubernetes.io/tls Secret', async () => {
    expect(await secrets.get(ns, 'tls-a')).toBeUndefined();
    const bundle = make();
    const created = await secrets.create(ns, 'tls-a', bundleToSecretData(bundle));
    expect(bundleFromSecretData(created.data)).toEqual(bundle);
    const raw = await admin.core.readNamespacedSecret({ namespace: ns, name: 'tls-a' });
    expect(raw.type).toBe('kubernetes.io/tls');
    expect(Object.keys(raw.data ?? {}).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(bundleFromSecretData((await secrets.get(ns, 'tls-a'))!.data)).toEqual(bundle);
  });

  it('rejects a second create and a stale replace with ApiException 409', async () => {
    const first = await secrets.create(ns, 'tls-b', bundleToSecretData(make()));
    expect((await expectApiError(() => secrets.create(ns, 'tls-b', bundleToSecretData(make())))).code).toBe(409);
    const second = await secrets.replace(ns, 'tls-b', bundleToSecretData(make()), first.resourceVersion);
    expect(second.resourceVersion).not.toBe(first.resourceVersion);
    const stale = await expectApiError(() => secrets.replace(ns, 'tls-b', bundleToSecretData(make()), first.resourceVersion));
    expect(stale.code).toBe(409);
  });

  it('settles two racing replicas on one bundle', async () => {
    const opts = { namespace: ns, secretName: 'tls-race', serviceName: 'kcr-webhook', validityDays: 30 };
    const now = () => new Date();
    const [r1, r2] = await Promise.all([
      ensureServingCertificate({ secrets, now }, opts),
      ensureServingCertificate({ secrets, now }, opts),
    ]);
    expect(r1.bundle).toEqual(r2.bundle);
    expect([r1.action, r2.action].sort()).toEqual(['created', 'reused']);
    expect(bundleFromSecretData((await secrets.get(ns, 'tls-race'))!.data)).toEqual(r1.bundle);
  });
});

describe('kubeCaBundleTarget', () => {
  it('patches every webhook entry once, keeps the old CA during the overlap, and then stops writing', async () => {
    const entry = (name: string) => ({
      name,
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: 'Ignore',
      timeoutSeconds: 2,
      // Matches nothing: this configuration exists only to hold caBundles.
      objectSelector: { matchLabels: { 'kcr.test/never': configName } },
      clientConfig: { url: 'https://127.0.0.1:1/mutate' },
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
    });
    await admin.admission.createMutatingWebhookConfiguration({
      body: { metadata: { name: configName }, webhooks: [entry('a.kcr.test'), entry('b.kcr.test')] },
    });
    const target = kubeCaBundleTarget(kubeJson(admin.kc));
    const now = () => new Date();
    expect(await target.getCaBundles(configName)).toEqual(['', '']);

    const caA = make().caCert;
    expect(await publishCaBundle({ target, now }, configName, caA)).toBe(true);
    const afterA = await target.getCaBundles(configName);
    expect(afterA.map((p) => splitPemBundle(p).map((c) => c.fingerprint256))).toEqual([
      [new X509Certificate(caA).fingerprint256],
      [new X509Certificate(caA).fingerprint256],
    ]);

    const caB = make().caCert;
    expect(await publishCaBundle({ target, now }, configName, caB)).toBe(true);
    const afterB = await target.getCaBundles(configName);
    for (const pem of afterB) {
      expect(splitPemBundle(pem).map((c) => c.fingerprint256)).toEqual([
        new X509Certificate(caB).fingerprint256,
        new X509Certificate(caA).fingerprint256,
      ]);
    }

    const rv = (await admin.admission.readMutatingWebhookConfiguration({ name: configName })).metadata?.resourceVersion;
    expect(await publishCaBundle({ target, now }, configName, caB)).toBe(false);
    expect((await admin.admission.readMutatingWebhookConfiguration({ name: configName })).metadata?.resourceVersion).toBe(rv);
  });

  it('reports a missing configuration as ApiException 404', async () => {
    const target = kubeCaBundleTarget(kubeJson(admin.kc));
    expect((await expectApiError(() => target.getCaBundles(`${configName}-missing`))).code).toBe(404);
  });
});
