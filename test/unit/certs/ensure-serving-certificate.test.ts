import { describe, expect, it, vi } from 'vitest';
import {
  bundleFromSecretData,
  bundleToSecretData,
  ensureServingCertificate,
  generateCertificateBundle,
  renewalTime,
  SECRET_KEYS,
} from '../../../certs/index.ts';
import { FakeSecretStore, apiError } from './fakes.ts';

// Each test makes real RSA keys; a loaded machine (parallel test files) can take seconds.
vi.setConfig({ testTimeout: 30_000 });

const DAY = 86_400_000;
const t0 = new Date('2026-06-01T00:00:00Z');
const opts = {
  namespace: 'kcr-system',
  secretName: 'kcr-webhook-tls',
  serviceName: 'kcr-webhook',
  validityDays: 30,
  ipAddresses: ['127.0.0.1'],
};
const otherReplicaBundle = (now: Date) =>
  generateCertificateBundle({ serviceName: 'kcr-webhook', namespace: 'kcr-system', validityDays: 30, now, ipAddresses: ['127.0.0.1'] });

describe('ensureServingCertificate', () => {
  it('creates the Secret with tls.crt, tls.key, ca.crt and ca.key when there is none', async () => {
    const secrets = new FakeSecretStore();
    const r = await ensureServingCertificate({ secrets, now: () => t0 }, opts);
    expect(r.action).toBe('created');
    const stored = await secrets.get('kcr-system', 'kcr-webhook-tls');
    expect(Object.keys(stored!.data).sort()).toEqual(Object.values(SECRET_KEYS).sort());
    expect(bundleFromSecretData(stored!.data)).toEqual(r.bundle);
  });

  it('reuses a valid Secret without writing', async () => {
    const secrets = new FakeSecretStore();
    const first = await ensureServingCertificate({ secrets, now: () => t0 }, opts);
    const later = new Date(t0.getTime() + 10 * DAY);
    const second = await ensureServingCertificate({ secrets, now: () => later }, opts);
    expect(second.action).toBe('reused');
    expect(second.bundle).toEqual(first.bundle);
    expect(secrets.writes).toBe(1);
  });

  it('renews at 2/3 of the lifetime and replaces the Secret', async () => {
    const secrets = new FakeSecretStore();
    const first = await ensureServingCertificate({ secrets, now: () => t0 }, opts);
    const due = renewalTime(first.bundle.cert);
    const justBefore = await ensureServingCertificate({ secrets, now: () => new Date(due.getTime() - 1) }, opts);
    expect(justBefore.action).toBe('reused');
    const renewed = await ensureServingCertificate({ secrets, now: () => due }, opts);
    expect(renewed.action).toBe('renewed');
    expect(renewed.bundle.cert).not.toBe(first.bundle.cert);
    expect(renewed.bundle.caCert).not.toBe(first.bundle.caCert);
    expect(bundleFromSecretData((await secrets.get('kcr-system', 'kcr-webhook-tls'))!.data)).toEqual(renewed.bundle);
  });

  it('renews when the Service name changed (SANs no longer cover it)', async () => {
    const secrets = new FakeSecretStore();
    await ensureServingCertificate({ secrets, now: () => t0 }, opts);
    const r = await ensureServingCertificate({ secrets, now: () => t0 }, { ...opts, serviceName: 'kcr-webhook-v2' });
    expect(r.action).toBe('renewed');
  });

  it('replaces a Secret that lacks keys (e.g. made by hand)', async () => {
    const secrets = new FakeSecretStore();
    secrets.put('kcr-system', 'kcr-webhook-tls', { 'tls.crt': 'x' });
    const r = await ensureServingCertificate({ secrets, now: () => t0 }, opts);
    expect(r.action).toBe('renewed');
  });

  it('adopts the other replica bundle when create loses the race (409)', async () => {
    const secrets = new FakeSecretStore();
    const theirs = otherReplicaBundle(t0);
    secrets.beforeWrite = (s) => s.put('kcr-system', 'kcr-webhook-tls', bundleToSecretData(theirs));
    const r = await ensureServingCertificate({ secrets, now: () => t0 }, opts);
    expect(r).toEqual({ bundle: theirs, action: 'reused' });
  });

  it('adopts the other replica renewal when replace loses the race (409)', async () => {
    const secrets = new FakeSecretStore();
    await ensureServingCertificate({ secrets, now: () => t0 }, opts);
    const later = new Date(t0.getTime() + 25 * DAY);
    const theirs = otherReplicaBundle(later);
    secrets.beforeWrite = (s) => s.put('kcr-system', 'kcr-webhook-tls', bundleToSecretData(theirs));
    const r = await ensureServingCertificate({ secrets, now: () => later }, opts);
    expect(r).toEqual({ bundle: theirs, action: 'reused' });
  });

  it('gives up after repeated conflicts instead of looping', async () => {
    const secrets = new FakeSecretStore();
    secrets.create = async () => {
      throw apiError(409);
    };
    await expect(ensureServingCertificate({ secrets, now: () => t0 }, opts)).rejects.toThrow(/could not settle/);
  });

  it('passes other API errors through (e.g. 403 without RBAC)', async () => {
    const secrets = new FakeSecretStore();
    secrets.get = async () => {
      throw apiError(403);
    };
    await expect(ensureServingCertificate({ secrets, now: () => t0 }, opts)).rejects.toMatchObject({ code: 403 });
    const s2 = new FakeSecretStore();
    s2.create = async () => {
      throw apiError(500);
    };
    await expect(ensureServingCertificate({ secrets: s2, now: () => t0 }, opts)).rejects.toMatchObject({ code: 500 });
  });
});
