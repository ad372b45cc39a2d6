// The webhook's kubeconfig loader: what it sends (server, CA, client certificate, Authorization)
// matches what client-node's KubeConfig sends for the same file, and what it cannot read itself
// (exec plugins) is handed to client-node.
import { chmodSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import type https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { credentialsFromKubeconfig, inClusterCredentials, loadClusterAccess } from '../../../src/kube/cluster-access.ts';

const dir = mkdtempSync(join(tmpdir(), 'kcr-access-'));
const b64 = (s: string) => Buffer.from(s).toString('base64');

function kubeconfigYaml(user: string, cluster = `    certificate-authority-data: ${b64('CA PEM')}\n    server: https://10.0.0.1:6443`): string {
  return [
    'apiVersion: v1', 'kind: Config',
    'clusters:', '- name: other', '  cluster:', '    server: https://other:1', '- name: c', '  cluster:', cluster,
    'users:', '- name: other', '  user:', '    token: not-this-one', '- name: u', '  user:', user,
    'contexts:', '- name: ctx', '  context:', '    cluster: c', '    user: u', '- name: x', '  context:', '    cluster: other', '    user: other',
    'current-context: ctx', '',
  ].join('\n');
}

async function sent(access: { applyToHTTPSOptions(o: https.RequestOptions): Promise<void> }): Promise<https.RequestOptions> {
  const opts: https.RequestOptions = { headers: { Accept: 'application/json' } };
  await access.applyToHTTPSOptions(opts);
  return opts;
}

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('loadClusterAccess', () => {
  it.each([
    ['a token', '    token: abc'],
    ['client certificate and key data', `    client-certificate-data: ${b64('CERT PEM')}\n    client-key-data: ${b64('KEY PEM')}`],
    ['basic auth', '    username: admin\n    password: s3cret'],
  ])('sends what client-node sends for %s, from the current context', async (_what, user) => {
    const file = write(`kc-${_what.replace(/\W/g, '-')}.yaml`, kubeconfigYaml(user));
    const ours = await loadClusterAccess({ kubeconfig: file });
    const theirs = new KubeConfig();
    theirs.loadFromFile(file);
    expect(ours.getCurrentCluster()?.server).toBe('https://10.0.0.1:6443');
    const [a, b] = [await sent(ours), await sent(theirs)];
    expect(String(a.ca)).toBe(String(b.ca));
    expect(String(a.cert ?? '')).toBe(String(b.cert ?? ''));
    expect(String(a.key ?? '')).toBe(String(b.key ?? ''));
    expect((a.headers as Record<string, string>).Authorization).toBe((b.headers as Record<string, string>).Authorization);
    expect(a.auth).toBe(b.auth);
    expect((a.headers as Record<string, string>).Accept).toBe('application/json');
  });

  it('reads files named relative to the kubeconfig, and skips verification only when told', async () => {
    mkdirSync(join(dir, 'rel'), { recursive: true });
    writeFileSync(join(dir, 'rel', 'ca.crt'), 'FILE CA');
    writeFileSync(join(dir, 'rel', 'tok'), 'file-token\n');
    const file = write('rel/kc.yaml', kubeconfigYaml('    tokenFile: tok', '    certificate-authority: ca.crt\n    server: https://h:1\n    tls-server-name: api.internal'));
    const opts = await sent(await loadClusterAccess({ kubeconfig: file }));
    expect(String(opts.ca)).toBe('FILE CA');
    expect(opts.servername).toBe('api.internal');
    expect(opts.rejectUnauthorized).toBeUndefined();
    expect((opts.headers as Record<string, string>).Authorization).toBe('Bearer file-token');
    const insecure = write('insecure.yaml', kubeconfigYaml('    token: t', '    insecure-skip-tls-verify: true\n    server: https://h:1'));
    expect((await sent(await loadClusterAccess({ kubeconfig: insecure }))).rejectUnauthorized).toBe(false);
  });

  it('in a pod: the service account, its token re-read as the kubelet rotates it', async () => {
    const sa = join(dir, 'sa');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'ca.crt'), 'SA CA');
    writeFileSync(join(sa, 'token'), 'first');
    let now = 0;
    const access = await loadClusterAccess({ kubeconfig: undefined, apiServiceHost: 'fd00::1', apiServicePort: '443', serviceAccountDir: sa, now: () => now });
    expect(access.getCurrentCluster()?.server).toBe('https://[fd00::1]:443');
    const first = await sent(access);
    expect(String(first.ca)).toBe('SA CA');
    expect(first.headers).toMatchObject({ Authorization: 'Bearer first' });
    writeFileSync(join(sa, 'token'), 'second\n');
    now = 30_000;
    expect((await sent(access)).headers).toMatchObject({ Authorization: 'Bearer first' });
    now = 61_000;
    expect((await sent(access)).headers).toMatchObject({ Authorization: 'Bearer second' });
    expect(inClusterCredentials({ host: '10.96.0.1', port: '8080' }, sa).server).toBe('http://10.96.0.1:8080');
  });

  it('hands an exec-plugin user to client-node, which runs the plugin', async () => {
    const plugin = write('plugin.sh', '#!/bin/sh\necho \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-exec"}}\'\n');
    chmodSync(plugin, 0o755);
    const file = write('exec.yaml', kubeconfigYaml(`    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ${plugin}\n      interactiveMode: Never`));
    const access = await loadClusterAccess({ kubeconfig: file });
    expect(access).toBeInstanceOf(KubeConfig);
    expect((await sent(access)).headers).toMatchObject({ Authorization: 'Bearer from-exec' });
  });

  it('refuses, with the reason, a kubeconfig without a current cluster', async () => {
    expect(() => credentialsFromKubeconfig('apiVersion: v1\nkind: Config\n', 'empty.yaml')).toThrow(/empty.yaml has no current cluster/);
    expect(() => credentialsFromKubeconfig(kubeconfigYaml('    token: t').replace('cluster: c\n', 'cluster: gone\n'), 'k.yaml')).toThrow(/cluster "gone" is not in the kubeconfig/);
    await expect(loadClusterAccess({ kubeconfig: join(dir, 'missing.yaml') })).rejects.toThrow(/ENOENT/);
    expect(() => inClusterCredentials({ host: undefined, port: undefined }, dir)).toThrow(/KUBERNETES_SERVICE_HOST/);
  });
});
