// cluster:up / cluster:down as a user sees them, on a second local cluster of its own
// (a temporary .kcr), so the run's shared cluster is untouched.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clientsFor, testCluster } from './cluster-clients.ts';
import { clusterState, deadComponents, ensureClusterUp, isOurProcess, stopCluster, type ClusterState } from './local-cluster.ts';

const cluster = testCluster();
const kcrDir = mkdtempSync(join(tmpdir(), 'kcr-local-cluster-test-'));

afterAll(async () => {
  await stopCluster({ kcrDir });
  rmSync(kcrDir, { recursive: true, force: true });
});

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

describe.skipIf(cluster.external)('a local cluster', () => {
  let first: ClusterState;

  it('starts, is ready for pods in default, and records pids and ports', async () => {
    const up = await ensureClusterUp({ kcrDir, binDir: cluster.binDir });
    expect(up.alreadyRunning).toBe(false);
    first = up.state;
    expect(clusterState(kcrDir)).toEqual(first);
    expect(deadComponents(first)).toEqual([]);
    const c = clientsFor(first.kubeconfig);
    // The admin kubeconfig works and the service-account controllers have run.
    const sa = await c.core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
    expect(sa.metadata?.name).toBe('default');
    expect(readFileSync(join(kcrDir, 'logs', 'kube-apiserver.log'), 'utf8').length).toBeGreaterThan(0);
  });

  it('a second start while it runs reports the running one and starts nothing', async () => {
    const again = await ensureClusterUp({ kcrDir, binDir: cluster.binDir });
    expect(again.alreadyRunning).toBe(true);
    expect(again.state.pids).toEqual(first.pids);
  });

  it('a component that died is noticed and the cluster is restarted as a whole', async () => {
    process.kill(first.pids['kube-scheduler'], 'SIGKILL');
    while (isOurProcess(first.pids['kube-scheduler'], join(first.binDir, 'kube-scheduler'))) await new Promise((r) => setTimeout(r, 50));
    expect(deadComponents(first)).toEqual(['kube-scheduler']);
    const up = await ensureClusterUp({ kcrDir, binDir: cluster.binDir });
    expect(up.alreadyRunning).toBe(false);
    expect(up.state.pids.etcd).not.toBe(first.pids.etcd);
    for (const [name, pid] of Object.entries(first.pids)) expect(isOurProcess(pid, join(first.binDir, name)), name).toBe(false);
    first = up.state;
  });

  it('stop ends every process and frees every port; stopping again is a no-op', async () => {
    const down = await stopCluster({ kcrDir });
    expect(down).toEqual({ stopped: true, busyPorts: [] });
    for (const [name, pid] of Object.entries(first.pids)) expect(isOurProcess(pid, join(first.binDir, name)), name).toBe(false);
    for (const port of Object.values(first.ports)) expect(await canListen(port), `port ${port}`).toBe(true);
    expect(clusterState(kcrDir)).toBeUndefined();
    expect(await stopCluster({ kcrDir })).toEqual({ stopped: false, busyPorts: [] });
  });
});
