// The chart's own files besides its templates: Chart.yaml, values.yaml (each value with its
// description as a comment) and the README listing every value. Pure: text out.
import { Document, isMap, isScalar, stringify, type Scalar, type YAMLMap } from 'yaml';
import type { ChartValue } from './chart-definition.ts';

export interface ChartMeta {
  name: string;
  version: string;
  appVersion: string;
  description: string;
}

export function chartYaml(meta: ChartMeta): string {
  return stringify({
    apiVersion: 'v2',
    name: meta.name,
    description: meta.description,
    type: 'application',
    version: meta.version,
    appVersion: meta.appVersion,
    kubeVersion: '>=1.30.0-0',
    keywords: ['checkpoint', 'restore', 'criu', 'stateful'],
  });
}

/** values.yaml: the defaults, nested, each preceded by its description. */
export function valuesYaml(values: readonly ChartValue[]): string {
  const doc = new Document({});
  for (const v of values) doc.setIn(v.key.split('.'), doc.createNode(v.default));
  for (const v of values) {
    const parts = v.key.split('.');
    const parent = parts.length === 1 ? doc.contents : doc.getIn(parts.slice(0, -1), true);
    if (!isMap(parent)) continue;
    const pair = (parent as YAMLMap).items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === parts.at(-1));
    if (!pair) continue;
    if (!isScalar(pair.key)) pair.key = doc.createNode(pair.key);
    (pair.key as Scalar).commentBefore = ` ${v.description}`;
  }
  return `# kcr's Helm chart: every value, with what it does (README.md lists them too).\n${doc.toString({ lineWidth: 0 })}`;
}

const cell = (v: unknown) => `\`${JSON.stringify(v)}\``.replaceAll('|', '\\|');

export function chartReadme(meta: ChartMeta, values: readonly ChartValue[], settings: readonly string[]): string {
  return `# kcr Helm chart

${meta.description}

Generated from \`manifests/\` by \`npm run dist\` (do not edit by hand: a test fails when this chart
and \`dist/install.yaml\` are not what the manifests give). With its defaults and \`registry.host\`
set, \`helm template\` renders the same objects as \`dist/install.yaml\`, except the Namespace
(Helm's: create it before, or \`--create-namespace\`), the release namespace left out of the webhook by name
as well (Helm's namespace lacks kcr's label), and the CRDs' \`helm.sh/resource-policy: keep\`.

\`\`\`sh
kubectl create namespace kcr-system
openssl rand -hex 32 | kubectl -n kcr-system create secret generic kcr-redis --from-file=password=/dev/stdin   # Redis' password
helm install kcr dist/chart -n kcr-system \\
  --set image.repository=registry.example.com/kcr --set registry.host=registry.example.com:5000
\`\`\`

Installed into any namespace, everything follows it: the webhook leaves that namespace out, the
policies name its ServiceAccounts, the cert-manager Certificate its Service.

- **Upgrade**: \`helm upgrade kcr dist/chart -n kcr-system --reuse-values\`; schedules, requests and
  Checkpoints are custom resources and stay.
- **Uninstall**: \`helm uninstall kcr -n kcr-system\` leaves the CRDs (\`crds.keep\`), and with them
  every schedule and Checkpoint, and the images in the registry. To remove those too: delete the
  Checkpoints *before* uninstalling (\`kubectl delete checkpoints -A --all\`: the controller deletes each
  image first), then uninstall, then \`kubectl delete crd -l app.kubernetes.io/part-of=kcr\`, then run
  the registry's garbage collection (README "The registry follows the Checkpoints").

## Values

| key | default | description |
|---|---|---|
${values.map((v) => `| \`${v.key}\` | ${cell(v.default)} | ${v.description.replaceAll('|', '\\|')} |`).join('\n')}

## Settings

\`settings\` takes any of kcr's settings (the main README's settings table), e.g.
\`--set settings.KCR_WEBHOOK_CLAIM_TTL_SECONDS=300\`. These are the ones it documents:

${settings.map((s) => `\`${s}\``).join(', ')}
`;
}
