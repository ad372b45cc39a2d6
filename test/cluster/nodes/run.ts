// CLI: runs local nodes (real kubelet + runtime simulator each) against a local cluster until
// SIGINT/SIGTERM, then stops them and removes their Node objects.
//   node test/cluster/nodes/run.ts --kubeconfig .kcr/kubeconfig --bin-dir <controlplane> \
//        --pki-dir .kcr/pki --dir .kcr/nodes [--profiles cri-o-1.34,containerd-2.4] \
//        [--name-prefix node-] [--netns-offset 0] [--insecure-registry host:port ...] [--registry-ca ca.pem]
//        [--ready-file nodes.json]
// Once every node is Ready, prints one JSON line per node ({name, ip, profile, checkpointDir,
// controlUrl, ...}) and writes the same list as a JSON array to --ready-file.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startLocalNodes } from './local-nodes.ts';
import { DEFAULT_NODE_PROFILES, parseNodeProfiles } from './profiles.ts';

function int(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      'bin-dir': { type: 'string' },
      'pki-dir': { type: 'string' },
      dir: { type: 'string' },
      profiles: { type: 'string', default: DEFAULT_NODE_PROFILES.join(',') },
      'name-prefix': { type: 'string', default: 'node-' },
      'netns-offset': { type: 'string', default: '0' },
      'insecure-registry': { type: 'string', multiple: true, default: [] },
      'registry-ca': { type: 'string' },
      'ready-file': { type: 'string' },
    },
    strict: true,
  });
  for (const need of ['kubeconfig', 'bin-dir', 'pki-dir', 'dir'] as const) {
    if (!values[need]) throw new Error(`--${need} is required`);
  }
  const nodes = await startLocalNodes({
    kubeconfig: values.kubeconfig!,
    binDir: values['bin-dir']!,
    pkiDir: values['pki-dir']!,
    dir: values.dir!,
    profiles: parseNodeProfiles(values.profiles),
    namePrefix: values['name-prefix'],
    netnsIndexOffset: int('netns-offset', values['netns-offset'], 0, 200),
    insecureRegistries: values['insecure-registry'],
    ...(values['registry-ca'] ? { registryCaFile: values['registry-ca'] } : {}),
    log: (m) => console.error(m),
  });
  const list = nodes.nodes.map(({ control, ...rest }) => ({ ...rest, controlUrl: control.url }));
  for (const n of list) console.log(JSON.stringify(n));
  if (values['ready-file']) writeFileSync(values['ready-file'], JSON.stringify(list, null, 2));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void nodes.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
