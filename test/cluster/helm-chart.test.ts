// kcr installed with its Helm chart (dist/chart), into a namespace that is not kcr-system, on the
// run's real API server: dist/install.yaml and the chart's output pass the server's dry run;
// `helm install` gives a cluster where the local kcr processes (standing in for the chart's
// Deployments and DaemonSet, whose image does not exist here) checkpoint a pod and restore its
// replacement; `helm upgrade` keeps schedules and Checkpoints; `helm uninstall` leaves the CRDs
// and kcr's objects, as the chart's README says.
//
// The run's kcr install (global-setup: manifests/ into kcr-system) shares the cluster-scoped
// names (CRDs, ClusterRoles, policies, the webhook configuration): the chart takes them over
// (--take-ownership), and afterAll puts manifests/ back for the files after this one.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ANNOTATIONS, API_VERSION, GROUP, PLURALS, VERSION } from '../../src/api/types.ts';
import { toolPath } from '../support/tools.ts';
import { apiCode, clientsFor, eventually, installedKcr, testCluster } from './cluster-clients.ts';
import { openE2eWorld } from './e2e-stack.ts';
import { restoredFromOf, type E2eWorld } from './e2e-world.ts';
import { installKcr, serviceAccountKubeconfig, splitManifests, type K8sObject, type TestCluster } from './kcr-in-cluster.ts';
import { kubectl } from './local-cluster.ts';
import { REPO_ROOT } from './pki.ts';

const run = promisify(execFile);
const NAMESPACE = 'kcr-helm';
const CHART = join(REPO_ROOT, 'dist/chart');
const helmBin = toolPath('helm');
if (!helmBin) throw new Error('helm is not built: bash test/scripts/go-tool.sh helm (test/run.sh does it)');
const helmPath: string = helmBin;

let cluster: TestCluster;
let e2e: Awaited<ReturnType<typeof openE2eWorld>> | undefined;
let w: E2eWorld;

/** The values that keep the chart's own pods from running: the local processes stand in for them. */
const NO_PODS = [
  '--set', 'registry.host=registry.local:5000',
  '--set', 'webhook.replicas=0', '--set', 'controller.replicas=0', '--set', 'tokenService.replicas=0', '--set', 'redis.replicas=0',
  '--set-string', 'agent.nodeSelector.kcr-test/no-such-node=true',
];

function helm(args: string[]): Promise<string> {
  return run(helmPath, [...args, '--kubeconfig', cluster.kubeconfig], { maxBuffer: 64 * 1024 * 1024 }).then((r) => r.stdout, (err: { stderr?: string; message: string }) => {
    throw new Error(`helm ${args.slice(0, 2).join(' ')}: ${err.stderr ?? err.message}`);
  });
}

const parse = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);

/** The stack's install step: `helm install` of the chart, and what it applied. */
async function helmInstall(): Promise<ReturnType<typeof splitManifests>> {
  // --force-conflicts: the fields the run's install applied (server-side, as kubectl) become Helm's.
  await helm(['install', 'kcr', CHART, '-n', NAMESPACE, '--create-namespace', '--take-ownership', '--force-conflicts', ...NO_PODS]);
  return splitManifests(parse(await helm(['get', 'manifest', 'kcr', '-n', NAMESPACE])));
}

beforeAll(async () => {
  cluster = testCluster();
  installedKcr();
  // An earlier file's stack that failed to stop leaves kcr-restore registered by URL; the chart
  // applies it with its Service reference (both would be invalid), so it starts from none.
  await clientsFor(cluster.kubeconfig).admission.deleteMutatingWebhookConfiguration({ name: 'kcr-restore' }).catch(() => undefined);
}, 60_000);

afterAll(async () => {
  // Uninstalled, kcr no longer holds the RBAC to take its finalizers off: the test does, so the namespace can go.
  if (w) {
    for (const cp of await w.checkpoints().catch(() => [])) {
      await w.admin.custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: w.ns, plural: PLURALS.Checkpoint, name: cp.metadata.name!, body: [{ op: 'remove', path: '/metadata/finalizers' }] }).catch(() => undefined);
    }
  }
  await e2e?.close();
  await helm(['uninstall', 'kcr', '-n', NAMESPACE, '--wait']).catch(() => undefined);
  const admin = clientsFor(cluster.kubeconfig);
  await admin.core.deleteNamespace({ name: NAMESPACE }).catch(() => undefined);
  // The files after this one find manifests/ installed into kcr-system again.
  await installKcr(cluster);
}, 300_000);

describe('dist/ on a real API server', () => {
  it('dist/install.yaml and the chart (kcr-system, another namespace, cert-manager off) pass the server-side dry run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kcr-dist-'));
    try {
      const install = readFileSync(join(REPO_ROOT, 'dist/install.yaml'), 'utf8').replace('KCR_REGISTRY: ""', 'KCR_REGISTRY: registry.example.com:5000');
      writeFileSync(join(dir, 'install.yaml'), install);
      const out = await kubectl(cluster.binDir, cluster.kubeconfig, ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', join(dir, 'install.yaml')]);
      expect(out).toContain('customresourcedefinition.apiextensions.k8s.io/checkpoints.checkpoint-restore.kcr.io serverside-applied (server dry run)');
      expect(out).toContain('validatingadmissionpolicy.admissionregistration.k8s.io/kcr-controller-pod-writes serverside-applied (server dry run)');
      await kubectl(cluster.binDir, cluster.kubeconfig, ['create', 'namespace', `${NAMESPACE}-dry`]);
      for (const [namespace, extra] of [['kcr-system', []], [`${NAMESPACE}-dry`, []]] as const) {
        writeFileSync(join(dir, 'chart.yaml'), await helm(['template', 'kcr', CHART, '-n', namespace, '--set', 'registry.host=registry.example.com:5000', ...extra]));
        const chartOut = await kubectl(cluster.binDir, cluster.kubeconfig, ['apply', '--server-side', '--force-conflicts', '--dry-run=server', '-f', join(dir, 'chart.yaml')]);
        expect(chartOut).toContain('mutatingwebhookconfiguration.admissionregistration.k8s.io/kcr-restore serverside-applied (server dry run)');
        expect(chartOut).toContain(`deployment.apps/kcr-controller serverside-applied (server dry run)`);
      }
    } finally {
      await kubectl(cluster.binDir, cluster.kubeconfig, ['delete', 'namespace', `${NAMESPACE}-dry`, '--wait=false']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe(`helm install into ${NAMESPACE}`, () => {
  it('with the local processes standing in for its Deployments, a pod is checkpointed and its replacement restored', async () => {
    e2e = await openE2eWorld('helm', { namespace: NAMESPACE, install: helmInstall });
    w = e2e.world;
    // What the chart installed names the release namespace, not kcr-system.
    const manifest = await helm(['get', 'manifest', 'kcr', '-n', NAMESPACE]);
    expect(manifest).not.toContain('kcr-system');
    const binding = parse(manifest).find((o) => o.kind === 'ValidatingAdmissionPolicyBinding' && o.metadata.name === 'kcr-controller-pod-writes') as unknown as { spec: { paramRef: { name: string } } };
    expect(binding.spec.paramRef.name).toBe(NAMESPACE);

    await w.createStatefulSet('chart', { podAnnotations: { [ANNOTATIONS.restore]: 'true' } });
    const first = await w.runningPod('chart-0');
    await new Promise((r) => setTimeout(r, 1500));
    const cp = await w.checkpointNow('chart-now', 'chart-0');
    expect(await w.registryHas(cp.status!.runtimeImage!)).toBe(true);
    await w.admin.core.deleteNamespacedPod({ name: 'chart-0', namespace: w.ns });
    const replacement = await w.runningPod('chart-0', first.metadata!.uid);
    expect(restoredFromOf(replacement)).toBe(cp.metadata.name);
    await w.expectContinuedFrom(replacement, cp.status!.runtimeImage!);
  }, 600_000);

  it("the policies bind the release namespace's ServiceAccounts: its controller may not write a tenant's Secret other than kcr-pull", async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kcr-helm-sa-')), 'kubeconfig');
    const asController = clientsFor(await serviceAccountKubeconfig(cluster, NAMESPACE, 'kcr-controller', file, 600));
    const refused = await asController.core.createNamespacedSecret({ namespace: w.ns, body: { metadata: { name: 'not-kcr-pull' }, stringData: { a: 'b' } } }).then(() => undefined, (err: unknown) => err);
    expect(apiCode(refused)).toBe(403);
    expect(String((refused as { body?: unknown }).body)).toContain('kcr-controller-secret-writes');
  });

  it('helm upgrade to a newer chart version keeps schedules, requests and Checkpoints; the new values take effect', async () => {
    const custom = (plural: string) => ({ group: GROUP, version: VERSION, namespace: w.ns, plural });
    await w.admin.custom.createNamespacedCustomObject({
      ...custom(PLURALS.CheckpointSchedule),
      body: { apiVersion: API_VERSION, kind: 'CheckpointSchedule', metadata: { name: 'kept' }, spec: { schedule: '0 3 * * *', suspend: true, selector: { matchLabels: { app: 'none' } } } },
    });
    const before = (await w.checkpoints()).map((c) => c.metadata.uid).sort();
    expect(before.length).toBeGreaterThan(0);
    // The stack registered the webhook by URL (its process is local), over the chart's Service
    // reference; the upgrade would apply both. Give the chart back its own.
    await w.admin.admission.deleteMutatingWebhookConfiguration({ name: 'kcr-restore' });
    // The next version: this chart with its version bumped (0.1.0 is the first release).
    const next = mkdtempSync(join(tmpdir(), 'kcr-chart-next-'));
    try {
      cpSync(CHART, next, { recursive: true });
      const chartYaml = join(next, 'Chart.yaml');
      writeFileSync(chartYaml, readFileSync(chartYaml, 'utf8').replace(/^version: .*$/m, 'version: 0.1.1'));
      await helm(['upgrade', 'kcr', next, '-n', NAMESPACE, '--reuse-values', '--force-conflicts', '--set', 'controller.logLevel=debug']);
    } finally {
      rmSync(next, { recursive: true, force: true });
    }
    const history = await helm(['history', 'kcr', '-n', NAMESPACE, '-o', 'json']);
    expect((JSON.parse(history) as { chart: string }[]).map((h) => h.chart)).toEqual(['kcr-0.1.0', 'kcr-0.1.1']);
    const controller = await w.admin.apps.readNamespacedDeployment({ name: 'kcr-controller', namespace: NAMESPACE });
    expect(controller.spec!.template.spec!.containers[0]!.env).toContainEqual({ name: 'KCR_LOG_LEVEL', value: 'debug' });
    expect((await w.checkpoints()).map((c) => c.metadata.uid).sort()).toEqual(before);
    await w.admin.custom.getNamespacedCustomObject({ ...custom(PLURALS.CheckpointSchedule), name: 'kept' });
  }, 120_000);

  it('helm uninstall leaves the CRDs, the schedules and the Checkpoints (crds.keep); kcr\'s workloads and policies go', async () => {
    const before = (await w.checkpoints()).map((c) => c.metadata.uid).sort();
    await helm(['uninstall', 'kcr', '-n', NAMESPACE, '--wait']);
    for (const crd of ['checkpoints', 'checkpointschedules', 'checkpointrequests', 'restorerequests']) {
      await kubectl(cluster.binDir, cluster.kubeconfig, ['get', 'crd', `${crd}.${GROUP}`]);
    }
    expect((await w.checkpoints()).map((c) => c.metadata.uid).sort()).toEqual(before);
    await w.admin.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: w.ns, plural: PLURALS.CheckpointSchedule, name: 'kept' });
    await eventually('the chart\'s Deployments and policies gone', async () => {
      const deployments = await w.admin.apps.listNamespacedDeployment({ namespace: NAMESPACE });
      const policies = await kubectl(cluster.binDir, cluster.kubeconfig, ['get', 'validatingadmissionpolicies', '-o', 'name']);
      return deployments.items.length === 0 && !policies.includes('kcr-') ? true : undefined;
    }, 60_000, 500);
  }, 120_000);
});
