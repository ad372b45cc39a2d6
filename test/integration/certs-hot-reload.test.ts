// Real HTTPS on 127.0.0.1: the served certificate changes without restarting the server.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { request, createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CertificateFileWatcher,
  CertificateRotator,
  attachHotReload,
  bundleToSecretData,
  ensureServingCertificate,
  generateCertificateBundle,
  renewalTime,
  type CertificateBundle,
  type ServingCertificateSource,
  type ServingKeyPair,
} from '../../certs/index.ts';
import { FakeSecretStore, ManualTimers } from '../unit/certs/fakes.ts';

const make = (now = new Date()) =>
  generateCertificateBundle({
    serviceName: 'kcr-webhook',
    namespace: 'kcr-system',
    validityDays: 30,
    now,
    extraDnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  });
const serial = (pem: string) => new X509Certificate(pem).serialNumber;

const servers: Server[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(pair: ServingKeyPair): Promise<number> {
  const server = createServer({ cert: pair.cert, key: pair.key }, (_req, res) => res.end('ok'));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** A fresh TLS connection (no agent reuse) trusting only `ca`; resolves the served serial. */
function fetchSerial(port: number, ca: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', servername: host === '127.0.0.1' ? undefined : host, port, ca, agent: false, path: '/' }, (res) => {
      const s = res.socket as TLSSocket;
      const got = s.getPeerCertificate().serialNumber;
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(got) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

function nextChange(source: ServingCertificateSource): Promise<ServingKeyPair> {
  return new Promise((resolve) => {
    const off = source.onChange((p) => {
      off();
      resolve(p);
    });
  });
}

describe('hot reload with the rotator (self-managed certificates)', () => {
  it('serves bundle B to new connections after rotation, without a restart', async () => {
    // Bundle A was issued 21 days ago (30-day validity): still valid for the real TLS
    // client, and past 2/3 of its life once the clock moves to the real now.
    let now = new Date(Date.now() - 21 * 86_400_000);
    const secrets = new FakeSecretStore();
    const timers = new ManualTimers();
    const rotator = new CertificateRotator({
      ensure: async () =>
        (
          await ensureServingCertificate(
            { secrets, now: () => now },
            {
              namespace: 'kcr-system',
              secretName: 'kcr-webhook-tls',
              serviceName: 'kcr-webhook',
              validityDays: 30,
              extraDnsNames: ['localhost'],
              ipAddresses: ['127.0.0.1'],
            },
          )
        ).bundle,
      now: () => now,
      timers,
    });
    cleanups.push(() => rotator.stop());
    const a = await rotator.start();
    const port = await serve(a);
    attachHotReload(servers[0]!, rotator);

    expect(await fetchSerial(port, a.caCert)).toBe(serial(a.cert));
    expect(await fetchSerial(port, a.caCert, 'kcr-webhook.kcr-system.svc')).toBe(serial(a.cert));

    // The clock moves past 2/3 of the lifetime; the rotator's timer fires.
    now = new Date();
    expect(now.getTime()).toBeGreaterThanOrEqual(renewalTime(a.cert).getTime());
    const changed = nextChange(rotator);
    timers.fireAll();
    const b = (await changed) as ServingKeyPair;
    const bundleB = rotator.current as CertificateBundle;
    expect(b.cert).toBe(bundleB.cert);

    expect(await fetchSerial(port, bundleB.caCert)).toBe(serial(bundleB.cert));
    expect(serial(bundleB.cert)).not.toBe(serial(a.cert));
    // A client that only trusts the old CA now fails: the server really switched.
    await expect(fetchSerial(port, a.caCert)).rejects.toThrow();
  });

  it('keeps the old certificate when the new pair is broken', async () => {
    const a = make();
    const b = make();
    const port = await serve(a);
    const listeners = new Set<(p: ServingKeyPair) => void>();
    const source: ServingCertificateSource = {
      onChange: (l) => (listeners.add(l), () => listeners.delete(l)),
    };
    attachHotReload(servers[0]!, source);
    for (const l of listeners) l({ cert: b.cert, key: a.key }); // key of another certificate
    expect(await fetchSerial(port, a.caCert)).toBe(serial(a.cert));
  });
});

describe('hot reload from files (cert-manager mode)', () => {
  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'kcr-certs-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }
  const writePair = async (dir: string, b: CertificateBundle) => {
    await writeFile(join(dir, 'tls.crt'), b.cert);
    await writeFile(join(dir, 'tls.key'), b.key);
  };

  it('reloads when tls.crt and tls.key are rewritten in place', async () => {
    const dir = await tempDir();
    const a = make();
    const b = make();
    await writePair(dir, a);
    const watcher = await CertificateFileWatcher.start({ certDir: dir, debounceMs: 50, pollIntervalMs: 60_000 });
    cleanups.push(() => watcher.stop());
    const port = await serve(watcher.current);
    attachHotReload(servers[0]!, watcher);
    expect(await fetchSerial(port, a.caCert)).toBe(serial(a.cert));

    const changed = nextChange(watcher);
    await writePair(dir, b);
    await changed;
    expect(await fetchSerial(port, b.caCert)).toBe(serial(b.cert));
  });

  it('follows a kubelet-style ..data symlink swap', async () => {
    const dir = await tempDir();
    const a = make();
    const b = make();
    await mkdir(join(dir, '..v1'));
    await writePair(join(dir, '..v1'), a);
    await symlink('..v1', join(dir, '..data'));
    await symlink('..data/tls.crt', join(dir, 'tls.crt'));
    await symlink('..data/tls.key', join(dir, 'tls.key'));
    const watcher = await CertificateFileWatcher.start({ certDir: dir, debounceMs: 50, pollIntervalMs: 60_000 });
    cleanups.push(() => watcher.stop());
    const port = await serve(watcher.current);
    attachHotReload(servers[0]!, watcher);

    const changed = nextChange(watcher);
    await mkdir(join(dir, '..v2'));
    await writePair(join(dir, '..v2'), b);
    await symlink('..v2', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data')); // atomic swap, as the kubelet does
    await changed;
    expect(await fetchSerial(port, b.caCert)).toBe(serial(b.cert));
  });

  it('skips a half-written pair and reloads once the key matches', async () => {
    const dir = await tempDir();
    const a = make();
    const b = make();
    await writePair(dir, a);
    // Long debounce/poll: this test drives reload() by hand.
    const watcher = await CertificateFileWatcher.start({ certDir: dir, debounceMs: 60_000, pollIntervalMs: 60_000 });
    cleanups.push(() => watcher.stop());
    const port = await serve(watcher.current);
    attachHotReload(servers[0]!, watcher);

    await writeFile(join(dir, 'tls.crt'), b.cert);
    expect(await watcher.reload()).toBe(false);
    expect(await fetchSerial(port, a.caCert)).toBe(serial(a.cert));
    await writeFile(join(dir, 'tls.key'), b.key);
    expect(await watcher.reload()).toBe(true);
    expect(await fetchSerial(port, b.caCert)).toBe(serial(b.cert));
  });

  it('picks up changes by polling when no watch event arrives', async () => {
    const dir = await tempDir();
    const a = make();
    const b = make();
    await writePair(dir, a);
    const timers = new ManualTimers(); // fs events schedule their debounce here too; only the poll is fired
    const watcher = await CertificateFileWatcher.start({ certDir: dir, debounceMs: 60_000, pollIntervalMs: 1000, timers });
    cleanups.push(() => watcher.stop());
    await writePair(dir, b);
    const changed = nextChange(watcher);
    expect(timers.fire(1000)).toBe(1);
    expect((await changed).cert).toBe(b.cert);
  });

  it('refuses to start without files or with a mismatched pair', async () => {
    const empty = await tempDir();
    await expect(CertificateFileWatcher.start({ certDir: empty })).rejects.toThrow(/ENOENT/);
    const bad = await tempDir();
    const a = make();
    const b = make();
    await writeFile(join(bad, 'tls.crt'), a.cert);
    await writeFile(join(bad, 'tls.key'), b.key);
    await expect(CertificateFileWatcher.start({ certDir: bad })).rejects.toThrow(/not a matching/);
  });

  it('ignores unreadable files after start and keeps serving', async () => {
    const dir = await tempDir();
    const a = make();
    await writePair(dir, a);
    const watcher = await CertificateFileWatcher.start({ certDir: dir, debounceMs: 60_000, pollIntervalMs: 60_000 });
    cleanups.push(() => watcher.stop());
    await rm(join(dir, 'tls.key'));
    expect(await watcher.reload()).toBe(false);
    expect(watcher.current.cert).toBe(a.cert);
  });
});

// The Secret written by the fake store holds what a second replica would read back.
it('a second replica serving from the same Secret presents a chain the shared CA verifies', async () => {
  const secrets = new FakeSecretStore();
  const a = make();
  secrets.put('kcr-system', 'kcr-webhook-tls', bundleToSecretData(a));
  const r = await ensureServingCertificate(
    { secrets, now: () => new Date() },
    { namespace: 'kcr-system', secretName: 'kcr-webhook-tls', serviceName: 'kcr-webhook', validityDays: 30, extraDnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
  );
  expect(r.action).toBe('reused');
  const port = await serve(r.bundle);
  expect(await fetchSerial(port, a.caCert)).toBe(serial(a.cert));
});
