// `npm run dist`: renders manifests/ with the built kubectl's kustomize into dist/install.yaml and
// generates the Helm chart in dist/chart from the same renderings. `--check` writes nothing and
// exits 1 naming every file that is not what the manifests give (the unit tests run it).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { chartParts, HELPERS } from './chart-definition.ts';
import { chartReadme, chartYaml, valuesYaml, type ChartMeta } from './chart-files.ts';
import type { K8sObject } from './chart-template.ts';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The built kubectl (test/cluster/controlplane/build.sh, cached outside the checkout). */
export async function builtKubectl(): Promise<string> {
  const { stdout } = await run('bash', [join(ROOT, 'test/cluster/controlplane/build.sh')], { maxBuffer: 64 * 1024 * 1024 });
  return join(stdout.trim().split('\n').at(-1)!, 'kubectl');
}

export async function kustomize(kubectl: string, dir: string): Promise<{ text: string; objects: K8sObject[] }> {
  const { stdout } = await run(kubectl, ['kustomize', join(ROOT, dir)], { maxBuffer: 64 * 1024 * 1024 });
  const objects = parseAllDocuments(stdout).map((d) => d.toJS() as K8sObject).filter((o) => o !== null);
  return { text: stdout, objects };
}

/** Every file of dist/, by path relative to the checkout. */
export async function distFiles(kubectl: string): Promise<Map<string, string>> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; description: string };
  const base = await kustomize(kubectl, 'manifests');
  const certManager = await kustomize(kubectl, 'manifests/overlays/cert-manager');
  const monitoring = existsSync(join(ROOT, 'manifests/monitoring/kustomization.yaml')) ? await kustomize(kubectl, 'manifests/monitoring') : { objects: [] };
  const files = new Map<string, string>();
  files.set('dist/install.yaml', `# kcr ${pkg.version}: \`kubectl kustomize manifests\`, made by \`npm run dist\`. Apply with
#   kubectl apply --server-side -f dist/install.yaml
# after setting KCR_REGISTRY in the ConfigMap kcr-settings (README "Install").
${base.text}`);
  const meta: ChartMeta = { name: 'kcr', version: pkg.version, appVersion: pkg.version, description: pkg.description };
  const parts = chartParts({ base: base.objects, certManager: certManager.objects, monitoring: monitoring.objects });
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const settings = [...new Set(readme.match(/\bKCR_[A-Z0-9_]+\b/g) ?? [])].sort();
  files.set('dist/chart/Chart.yaml', chartYaml(meta));
  files.set('dist/chart/values.yaml', valuesYaml(parts.values));
  files.set('dist/chart/README.md', chartReadme(meta, parts.values, settings));
  files.set('dist/chart/templates/_helpers.tpl', HELPERS);
  files.set('dist/chart/templates/NOTES.txt', `kcr {{ .Chart.AppVersion }} is installed in {{ .Release.Namespace }}.
Checkpoint images go to {{ .Values.registry.host }}/{{ .Values.registry.prefix }}/<namespace>/<identity>.
Opt a pod in with the annotation kcr.io/checkpoint-schedule or a CheckpointSchedule; kubectl get kcr -A shows kcr's objects.
`);
  // helm lint and the tests render with the one value that has no default.
  files.set('dist/chart/ci/default-values.yaml', 'registry:\n  host: registry.example.com:5000\n');
  for (const [name, text] of parts.templates) files.set(`dist/chart/templates/${name}`, `# Generated from manifests/ by npm run dist.\n${text}`);
  return files;
}

function existing(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const files = await distFiles(await builtKubectl());
  const stale: string[] = [];
  for (const [path, text] of files) {
    const full = join(ROOT, path);
    const now = existsSync(full) ? readFileSync(full, 'utf8') : undefined;
    if (now === text) continue;
    stale.push(path);
    if (!check) {
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, text);
    }
  }
  for (const path of existing(join(ROOT, 'dist'))) {
    if (files.has(path)) continue;
    stale.push(path);
    if (!check) rmSync(join(ROOT, path));
  }
  if (check && stale.length > 0) {
    console.error(`dist/ is not what manifests/ give; run npm run dist. Stale: ${stale.join(', ')}`);
    process.exit(1);
  }
  process.stdout.write(check ? 'dist/ is up to date\n' : `dist/: ${stale.length === 0 ? 'unchanged' : `wrote ${stale.join(', ')}`}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
