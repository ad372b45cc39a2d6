// dist/: install.yaml and the Helm chart are what manifests/ give (a stale file fails), the chart
// lints, and `helm template` with its defaults renders the objects of install.yaml, object by
// object. The tools are the built kubectl and helm (test/cluster/controlplane/build.sh,
// test/scripts/go-tool.sh helm), which test/run.sh builds before the unit tests.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { distFiles } from '../../packaging/build-dist.ts';
import { toolPath, REPO_ROOT } from '../support/tools.ts';

const run = promisify(execFile);
const kubectl = toolPath('kubectl');
const helm = toolPath('helm');
const promtool = toolPath('promtool');
const skip = !kubectl || !helm;
const note = skip ? ` (SKIPPED: kubectl ${kubectl ?? 'missing'}, helm ${helm ?? 'missing'}; run test/run.sh)` : '';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; [k: string]: unknown };
const parse = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJS() as Obj).filter((o) => o !== null);
const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const REGISTRY = 'registry.example.com:5000';

async function template(args: string[], namespace = 'kcr-system'): Promise<Obj[]> {
  const { stdout } = await run(helm!, ['template', 'kcr', join(REPO_ROOT, 'dist/chart'), '-n', namespace, '--set', `registry.host=${REGISTRY}`, ...args], { maxBuffer: 64 * 1024 * 1024 });
  return parse(stdout);
}
async function templateFails(args: string[]): Promise<string> {
  try {
    await run(helm!, ['template', 'kcr', join(REPO_ROOT, 'dist/chart'), '-n', 'kcr-system', ...args]);
  } catch (err) {
    return String((err as { stderr?: string }).stderr);
  }
  throw new Error(`helm template ${args.join(' ')} succeeded`);
}
const find = (objs: Obj[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name);
const container = (o: Obj | undefined, i = 0) => (o as unknown as { spec: { template: { spec: { containers: { env: { name: string; value?: string }[]; image: string }[] } } } }).spec.template.spec.containers[i]!;

describe(`dist/${note}`, () => {
  it.skipIf(skip)('install.yaml and the chart are exactly what `npm run dist` makes from manifests/ today', async () => {
    const files = await distFiles(kubectl!);
    const stale = [...files].filter(([path, text]) => !existsSync(join(REPO_ROOT, path)) || readFileSync(join(REPO_ROOT, path), 'utf8') !== text).map(([p]) => p);
    expect(stale, 'run npm run dist').toEqual([]);
  }, 60_000);

  it.skipIf(skip)('the chart lints', async () => {
    const { stdout } = await run(helm!, ['lint', join(REPO_ROOT, 'dist/chart'), '-f', join(REPO_ROOT, 'dist/chart/ci/default-values.yaml')]);
    expect(stdout).toContain('0 chart(s) failed');
  }, 60_000);

  it.skipIf(skip)("helm template with the defaults equals install.yaml, object by object (but for what Helm's own namespace needs, and the CRDs kept on uninstall)", async () => {
    const installed = parse(readFileSync(join(REPO_ROOT, 'dist/install.yaml'), 'utf8'));
    const want = new Map(installed.filter((o) => o.kind !== 'Namespace').map((o) => {
      // Helm makes the namespace without kcr's label, so the webhook leaves it out by name as well.
      if (o.kind === 'MutatingWebhookConfiguration') {
        for (const w of (o as unknown as { webhooks: { namespaceSelector: { matchExpressions: { key: string; values: string[] }[] } }[] }).webhooks) {
          w.namespaceSelector.matchExpressions.find((e) => e.key === 'kubernetes.io/metadata.name')!.values.push('kcr-system');
        }
      }
      if (o.kind === 'ConfigMap' && o.metadata.name === 'kcr-settings') (o as unknown as { data: Record<string, string> }).data.KCR_REGISTRY = REGISTRY;
      if (o.kind === 'CustomResourceDefinition') o.metadata.annotations = { ...o.metadata.annotations, 'helm.sh/resource-policy': 'keep' };
      return [key(o), o];
    }));
    const got = new Map((await template([])).map((o) => [key(o), o]));
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [k, o] of want) expect(got.get(k), k).toEqual(o);
  }, 60_000);

  it.skipIf(skip)('installed into another namespace, nothing names kcr-system: the webhook leaves that one out, the policies name its ServiceAccounts', async () => {
    const objs = await template([], 'platform-kcr');
    expect(JSON.stringify(objs)).not.toContain('kcr-system');
    const mwc = find(objs, 'MutatingWebhookConfiguration', 'kcr-restore') as unknown as { webhooks: { clientConfig: { service: { namespace: string } }; namespaceSelector: { matchExpressions: { key: string; values: string[] }[] } }[] };
    expect(mwc.webhooks[0]!.clientConfig.service.namespace).toBe('platform-kcr');
    expect(mwc.webhooks[0]!.namespaceSelector.matchExpressions.find((e) => e.key === 'kubernetes.io/metadata.name')!.values).toEqual(['kube-system', 'platform-kcr']);
    for (const b of objs.filter((o) => o.kind === "ValidatingAdmissionPolicyBinding" && (o as unknown as { spec: { paramRef?: unknown } }).spec.paramRef)) {
      expect((b as unknown as { spec: { paramRef: { name: string } } }).spec.paramRef.name).toBe('platform-kcr');
    }
    const subjects = objs.flatMap((o) => ((o as { subjects?: { kind: string; namespace?: string }[] }).subjects ?? []).filter((s) => s.kind === 'ServiceAccount'));
    expect(subjects.length).toBeGreaterThan(0);
    for (const s of subjects) expect(s.namespace).toBe('platform-kcr');
  }, 60_000);

  it.skipIf(skip)('values land where they say: image digest, registry, Redis, settings, per-component env, resources, scheduling', async () => {
    const objs = await template([
      '--set', 'image.repository=registry.example.com/kcr', '--set', 'image.digest=sha256:' + 'a'.repeat(64),
      '--set', 'registry.insecure=http://registry.example.com:5000', '--set', 'registry.caSecret=my-ca',
      '--set', 'redis.bundled=false', '--set', 'redis.url=rediss://redis.example:6380', '--set', 'redis.tls.caSecret=redis-ca', '--set', 'redis.passwordSecret=my-redis',
      '--set', 'settings.KCR_WEBHOOK_CLAIM_TTL_SECONDS=300', '--set', 'controller.logLevel=debug', '--set', 'controller.replicas=3',
      '--set', 'agent.nodeSelector.kcr/agent=yes', '--set', 'webhook.priorityClassName=system-cluster-critical',
      '--set', 'controller.resources.limits.memory=1Gi', '--set-json', 'imagePullSecrets=[{"name":"pull"}]',
      '--set-json', 'webhook.extraEnv=[{"name":"KCR_WEBHOOK_MAX_IN_FLIGHT","value":"8"}]',
    ]);
    const controller = find(objs, 'Deployment', 'kcr-controller') as Obj & { spec: { replicas: number; template: { spec: Record<string, unknown> } } };
    expect(container(controller).image).toBe(`registry.example.com/kcr@sha256:${'a'.repeat(64)}`);
    expect(controller.spec.replicas).toBe(3);
    expect(container(controller).env).toContainEqual({ name: 'KCR_LOG_LEVEL', value: 'debug' });
    expect(container(controller).env).toContainEqual({ name: 'KCR_REGISTRY_CA_FILE', value: '/etc/kcr/registry-ca/ca.crt' });
    expect(container(controller).env).toContainEqual({ name: 'KCR_REDIS_CA_FILE', value: '/etc/kcr/redis-ca/ca.crt' });
    expect(controller.spec.template.spec.imagePullSecrets).toEqual([{ name: 'pull' }]);
    expect(JSON.stringify(controller.spec.template.spec.volumes)).toContain('"secretName":"my-redis"');
    expect(JSON.stringify(controller.spec.template.spec.volumes)).toContain('"secretName":"my-ca"');
    expect((container(controller) as unknown as { resources: { limits: { memory: string } } }).resources.limits.memory).toBe('1Gi');
    const settings = find(objs, 'ConfigMap', 'kcr-settings') as unknown as { data: Record<string, string> };
    expect(settings.data).toMatchObject({ KCR_REGISTRY: REGISTRY, KCR_REDIS_URL: 'rediss://redis.example:6380', KCR_INSECURE_REGISTRIES: 'http://registry.example.com:5000', KCR_WEBHOOK_CLAIM_TTL_SECONDS: '300' });
    expect(objs.some((o) => o.metadata.name === 'kcr-redis')).toBe(false);
    const agent = find(objs, 'DaemonSet', 'kcr-agent') as unknown as { spec: { template: { spec: { nodeSelector: Record<string, string> } } } };
    expect(agent.spec.template.spec.nodeSelector).toEqual({ 'kcr/agent': 'yes' });
    const webhook = find(objs, 'Deployment', 'kcr-webhook') as unknown as { spec: { template: { spec: { priorityClassName: string } } } };
    expect(webhook.spec.template.spec.priorityClassName).toBe('system-cluster-critical');
    expect(container(webhook as unknown as Obj).env).toContainEqual({ name: 'KCR_WEBHOOK_MAX_IN_FLIGHT', value: '8' });
  }, 60_000);

  it.skipIf(skip)('certificates.source=cert-manager renders the overlay: a Certificate for the release namespace, the CA injected, the webhook reading files', async () => {
    const objs = await template(['--set', 'certificates.source=cert-manager'], 'platform-kcr');
    const cert = find(objs, 'Certificate', 'kcr-webhook') as unknown as { spec: { dnsNames: string[] } };
    expect(cert.spec.dnsNames).toContain('kcr-webhook.platform-kcr.svc');
    expect(find(objs, 'MutatingWebhookConfiguration', 'kcr-restore')!.metadata.annotations).toMatchObject({ 'cert-manager.io/inject-ca-from': 'platform-kcr/kcr-webhook' });
    expect(container(find(objs, 'Deployment', 'kcr-webhook')).env).toContainEqual({ name: 'KCR_WEBHOOK_CERT_SOURCE', value: 'files' });
    expect((await template([])).some((o) => o.kind === 'Certificate')).toBe(false);
  }, 60_000);

  it.skipIf(skip)('metrics.* on renders manifests/monitoring as kustomize does (alert and legend templates left to Prometheus and Grafana); off by default', async () => {
    const { stdout } = await run(kubectl!, ['kustomize', join(REPO_ROOT, 'manifests/monitoring')], { maxBuffer: 64 * 1024 * 1024 });
    const want = parse(stdout);
    const got = await template(['--set', 'metrics.serviceMonitor.enabled=true', '--set', 'metrics.prometheusRule.enabled=true', '--set', 'metrics.dashboard.enabled=true']);
    for (const o of want) expect(got.find((g) => key(g) === key(o)), key(o)).toEqual(o);
    const defaults = await template([]);
    for (const o of want) expect(defaults.some((g) => key(g) === key(o)), key(o)).toBe(false);
  }, 60_000);

  it.skipIf(skip || !promtool)('promtool check rules passes on the alert rules', async () => {
    const { stdout } = await run(kubectl!, ['kustomize', join(REPO_ROOT, 'manifests/monitoring')], { maxBuffer: 64 * 1024 * 1024 });
    const rules = parse(stdout).filter((o) => o.kind === 'PrometheusRule');
    expect(rules.length).toBeGreaterThan(0);
    const dir = mkdtempSync(join(tmpdir(), 'kcr-rules-'));
    try {
      for (const [i, r] of rules.entries()) {
        const file = join(dir, `rules-${i}.yaml`);
        writeFileSync(file, stringify((r as unknown as { spec: unknown }).spec));
        const out = await run(promtool!, ['check', 'rules', file]);
        expect(out.stdout).toMatch(/SUCCESS: \d+ rules found/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it.skipIf(skip)('refuses, saying what to set, without a registry or with neither Redis', async () => {
    expect(await templateFails([])).toContain('registry.host is required');
    expect(await templateFails(['--set', `registry.host=${REGISTRY}`, '--set', 'redis.bundled=false'])).toContain('redis.url is required when redis.bundled is false');
  }, 60_000);

  it.skipIf(skip)("the chart's README lists every value of values.yaml and every setting of the README", () => {
    const readme = readFileSync(join(REPO_ROOT, 'dist/chart/README.md'), 'utf8');
    const values = readFileSync(join(REPO_ROOT, 'dist/chart/values.yaml'), 'utf8');
    const keys: string[] = [];
    const walk = (o: unknown, prefix: string) => {
      if (o && typeof o === 'object' && !Array.isArray(o) && Object.keys(o).length > 0 && !/resources$|nodeSelector$|affinity$|issuerRef$|settings$/.test(prefix)) {
        for (const [k, v] of Object.entries(o)) walk(v, prefix ? `${prefix}.${k}` : k);
      } else keys.push(prefix);
    };
    walk(parseAllDocuments(values)[0]!.toJS(), '');
    for (const k of keys) expect(readme, k).toContain(`\`${k}\``);
    for (const s of new Set(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8').match(/\bKCR_[A-Z0-9_]+\b/g))) expect(readme, s).toContain(`\`${s}\``);
  });
});
