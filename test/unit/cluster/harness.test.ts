// The cluster harness's pure parts: which manifests it applies, how it points the webhook
// configuration at a local URL, how it reads /metrics, and cluster:up's flags.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { metricSum, pointWebhooksAtUrl, splitManifests, type K8sObject } from '../../cluster/kcr-in-cluster.ts';
import { ensureClusterPki, issueKubeletServingCert, issueNodeClientCert, nodeKubeconfig } from '../../cluster/pki.ts';
import { kubeletConfiguration } from '../../cluster/nodes/kubelet-config.ts';
import { parseUpFlags } from '../../cluster/up-flags.ts';

const obj = (kind: string, name: string, extra: object = {}): K8sObject => ({ apiVersion: 'v1', kind, metadata: { name }, ...extra });

describe('splitManifests', () => {
  it('applies CRDs first, keeps RBAC and Services, leaves out kcr’s own workloads', () => {
    const s = splitManifests([
      obj('Namespace', 'kcr-system'),
      obj('CustomResourceDefinition', 'checkpoints.checkpoint-restore.kcr.io'),
      obj('ClusterRole', 'kcr:webhook'),
      obj('Deployment', 'kcr-webhook'),
      obj('DaemonSet', 'kcr-agent'),
      obj('StatefulSet', 'kcr-redis'),
      obj('PodDisruptionBudget', 'kcr-webhook'),
      obj('Service', 'kcr-webhook'),
      obj('MutatingWebhookConfiguration', 'kcr-restore'),
    ]);
    expect(s.crds.map((o) => o.metadata.name)).toEqual(['checkpoints.checkpoint-restore.kcr.io']);
    expect(s.rest.map((o) => o.kind)).toEqual(['Namespace', 'ClusterRole', 'Service']);
    expect(s.webhookConfigurations.map((o) => o.metadata.name)).toEqual(['kcr-restore']);
    expect(s.skipped).toEqual(['Deployment//kcr-webhook', 'DaemonSet//kcr-agent', 'StatefulSet//kcr-redis', 'PodDisruptionBudget//kcr-webhook']);
  });
});

describe('pointWebhooksAtUrl', () => {
  const cfg = obj('MutatingWebhookConfiguration', 'kcr-restore', {
    webhooks: [
      {
        name: 'restore.kcr.io',
        clientConfig: { service: { name: 'kcr-webhook', namespace: 'kcr-system', path: '/mutate', port: 443 }, caBundle: 'b2xk' },
        failurePolicy: 'Ignore',
        timeoutSeconds: 3,
        namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] }] },
      },
    ],
  });

  it('replaces the Service by the URL with the Service path and keeps every other field', () => {
    const out = pointWebhooksAtUrl(cfg, 'https://127.0.0.1:4443') as unknown as { webhooks: Record<string, unknown>[] };
    expect(out.webhooks[0]!.clientConfig).toEqual({ url: 'https://127.0.0.1:4443/mutate' });
    const { clientConfig: _a, ...rest } = out.webhooks[0]!;
    const { clientConfig: _b, ...orig } = (cfg as unknown as { webhooks: Record<string, unknown>[] }).webhooks[0]!;
    expect(rest).toEqual(orig);
  });

  it('does not modify its input', () => {
    const before = structuredClone(cfg);
    pointWebhooksAtUrl(cfg, 'https://127.0.0.1:1');
    expect(cfg).toEqual(before);
  });
});

describe('metricSum', () => {
  const text = [
    '# HELP kcr_webhook_admissions_total x',
    '# TYPE kcr_webhook_admissions_total counter',
    'kcr_webhook_admissions_total{outcome="patched",reason="restored"} 2',
    'kcr_webhook_admissions_total{outcome="unchanged",reason="not-opted-in"} 5',
    'kcr_webhook_admissions_total_other 100',
    'kcr_webhook_index_objects{kind="Checkpoint"} 3',
    'kcr_webhook_index_objects{kind="Pod"} 7',
  ].join('\n');

  it('sums all samples of a metric, and only that metric', () => {
    expect(metricSum(text, 'kcr_webhook_admissions_total')).toBe(7);
  });
  it('filters by labels', () => {
    expect(metricSum(text, 'kcr_webhook_index_objects', { kind: 'Checkpoint' })).toBe(3);
    expect(metricSum(text, 'kcr_webhook_admissions_total', { outcome: 'patched' })).toBe(2);
    expect(metricSum(text, 'kcr_webhook_admissions_total', { outcome: 'error' })).toBe(0);
  });
  it('is 0 for a metric that is absent or an empty page', () => {
    expect(metricSum('', 'kcr_webhook_admissions_total')).toBe(0);
  });
});

describe('parseUpFlags', () => {
  it('accepts nothing, --help and --kcr', () => {
    expect(parseUpFlags([])).toEqual({ help: false, kcr: false });
    expect(parseUpFlags(['--help'])).toEqual({ help: true, kcr: false });
    expect(parseUpFlags(['--kcr'])).toEqual({ help: false, kcr: true });
  });
  it('takes one runtime profile per node with --kcr', () => {
    expect(parseUpFlags(['--kcr', '--nodes', 'cri-o-1.34,containerd-2.4'])).toEqual({ help: false, kcr: true, nodeProfiles: ['cri-o-1.34', 'containerd-2.4'] });
    expect(parseUpFlags(['--kcr', '--nodes=cri-o-1.29:restore=on']).nodeProfiles).toEqual(['cri-o-1.29:restore=on']);
  });
  it.each([['--kcr=1'], ['up']])('rejects %s naming it', (flag) => {
    expect(() => parseUpFlags([flag])).toThrow(JSON.stringify(flag));
  });
  it.each([
    [['--kcr', '--nodes', 'cri-o-9'], 'unknown node profile "cri-o-9"'],
    [['--kcr', '--nodes', 'cri-o-1.34:restore=maybe'], 'only :restore=on or :restore=off'],
    [['--kcr', '--nodes', 'containerd-2.4:restore=on'], 'containerd 2.4 removed restore'],
    [['--kcr', '--nodes', 'containerd-2.1:restore=off'], 'containerd 2.1 always restores'],
    [['--kcr', '--nodes', ','], 'at least one profile'],
    [['--kcr', '--nodes'], '--nodes needs a list'],
    [['--nodes', 'cri-o-1.34'], 'use it with --kcr'],
  ])('rejects %j with a clear message', (argv, message) => {
    expect(() => parseUpFlags(argv)).toThrow(message);
  });
});

describe('kubeletConfiguration', () => {
  const config = kubeletConfiguration({
    address: '10.213.0.11',
    port: 10250,
    runtimeEndpoint: 'unix:///tmp/n/runtime.sock',
    tlsCertFile: '/tmp/n/kubelet.crt',
    tlsPrivateKeyFile: '/tmp/n/kubelet.key',
    clientCaFile: '/tmp/ca.crt',
    podLogsDir: '/tmp/n/pod-logs',
  });
  it('runs on this cgroup v1 host as the kubelet demands', () => {
    expect(config).toMatchObject({ failCgroupV1: false, cgroupsPerQOS: false, enforceNodeAllocatable: [], failSwapOn: false });
  });
  it('authenticates and authorises callers through the API server, anonymous off', () => {
    expect(config).toMatchObject({
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: '/tmp/ca.crt' } },
      authorization: { mode: 'Webhook' },
      readOnlyPort: 0,
    });
  });
  it('serves on the node address and talks CRI to the node runtime', () => {
    expect(config).toMatchObject({ address: '10.213.0.11', port: 10250, containerRuntimeEndpoint: 'unix:///tmp/n/runtime.sock', imageServiceEndpoint: 'unix:///tmp/n/runtime.sock' });
    // The checkpoint gate is left as released (beta, on by default).
    expect(config).not.toHaveProperty('featureGates');
  });
});

describe('cluster PKI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kcr-pki-'));
  const p = ensureClusterPki(dir);

  it('kubelet serving certs are for the node’s IP, serverAuth only, signed by the kubelet CA (not the cluster CA)', () => {
    const { cert } = issueKubeletServingCert('sim-1', '127.0.0.2', dir);
    const x = new X509Certificate(cert);
    expect(x.subjectAltName).toContain('IP Address:127.0.0.2');
    expect(x.checkIP('127.0.0.2')).toBe('127.0.0.2');
    expect(x.checkIP('127.0.0.3')).toBeUndefined();
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(x.verify(new X509Certificate(readFileSync(p.kubeletCaCert, 'utf8')).publicKey)).toBe(true);
    expect(x.verify(new X509Certificate(readFileSync(p.caCert, 'utf8')).publicKey)).toBe(false);
  });

  it('node client certs carry system:node:<name> and group system:nodes, for clientAuth', () => {
    const x = new X509Certificate(issueNodeClientCert('sim-1', dir).cert);
    expect(x.subject).toContain('CN=system:node:sim-1');
    expect(x.subject).toContain('O=system:nodes');
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('refuses a serving cert for something that is not an IP', () => {
    expect(() => issueKubeletServingCert('sim-1', 'localhost', dir)).toThrow('not an IP address');
  });

  it('reuses the CA on later calls', () => {
    expect(ensureClusterPki(dir)).toEqual(p);
    expect(readFileSync(p.caCert, 'utf8')).toBe(readFileSync(ensureClusterPki(dir).caCert, 'utf8'));
  });

  it('node kubeconfigs point at the server and embed the node identity', () => {
    const kc = JSON.parse(nodeKubeconfig('sim-2', 'https://127.0.0.1:6443', dir)) as {
      clusters: { cluster: { server: string } }[];
      users: { name: string; user: { 'client-certificate-data': string } }[];
    };
    expect(kc.clusters[0]!.cluster.server).toBe('https://127.0.0.1:6443');
    const x = new X509Certificate(Buffer.from(kc.users[0]!.user['client-certificate-data'], 'base64'));
    expect(x.subject).toContain('CN=system:node:sim-2');
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));
});
