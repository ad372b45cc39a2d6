// CLI: run N simulated nodes against a cluster until SIGINT/SIGTERM.
//   node test/cluster/sim-node/run.ts [--count 2] [--kubeconfig .kcr/kubeconfig] [--pki-dir .kcr/pki]
//        [--checkpoint-root .kcr/nodes] [--name-prefix sim-node-] [--network netns|host|loopback]
//        [--netns-offset 0] [--address <host ip>] [--first-ip 11]
//        [--https-registry host:port ...] [--registry-ca ca.pem] [--log-level info]
// The kubeconfig is only read for the API server's address; each node authenticates as
// itself with a client certificate from the local cluster's PKI.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../../../src/log.ts';
import { DEFAULT_PKI_DIR, KCR_DIR } from '../pki.ts';
import { localClusterIdentity, serverOf } from './local-identity.ts';
import { createRegistryClient } from './registry-client.ts';
import { startSimulatedNodes } from './start.ts';

function int(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

function networkMode(raw: string): 'netns' | 'host' | 'loopback' {
  if (raw === 'netns' || raw === 'host' || raw === 'loopback') return raw;
  throw new Error(`--network must be netns, host or loopback, got ${JSON.stringify(raw)}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '2' },
      kubeconfig: { type: 'string' },
      'pki-dir': { type: 'string', default: DEFAULT_PKI_DIR },
      'checkpoint-root': { type: 'string', default: join(KCR_DIR, 'nodes') },
      'name-prefix': { type: 'string', default: 'sim-node-' },
      'first-ip': { type: 'string', default: '11' },
      address: { type: 'string' },
      network: { type: 'string' },
      'netns-offset': { type: 'string', default: '0' },
      'https-registry': { type: 'string', multiple: true, default: [] },
      'registry-ca': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
    },
    strict: true,
  });
  const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG ?? join(KCR_DIR, 'kubeconfig');
  const count = int('count', values.count, 1, 200);
  const firstIp = int('first-ip', values['first-ip'], 2, 254);
  const logger = createLogger('sim-node', values['log-level']);
  const registry = createRegistryClient({
    httpsRegistries: values['https-registry'],
    ...(values['registry-ca'] ? { ca: readFileSync(values['registry-ca'], 'utf8') } : {}),
  });
  const nodes = await startSimulatedNodes({
    count,
    namePrefix: values['name-prefix'],
    firstIpOctet: firstIp,
    ...(values.address ? { address: values.address } : {}),
    ...(values.network ? { network: networkMode(values.network) } : {}),
    netnsIndexOffset: int('netns-offset', values['netns-offset'], 0, 200),
    identity: localClusterIdentity(serverOf(kubeconfig), values['pki-dir']),
    checkpointRoot: values['checkpoint-root'],
    registry,
    logger,
  });
  for (const n of nodes.nodes) console.log(`${n.name} ${n.kubeletUrl} (listening on ${n.listenAddress}, network ${nodes.network}) checkpoints=${n.checkpointDir}`);
  const stop = () => {
    void nodes.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
