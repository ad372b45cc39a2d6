import { X509Certificate } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import {
  CertificateRotator,
  bundleToSecretData,
  ensureServingCertificate,
  generateCertificateBundle,
  nextCheckDelayMs,
  publishCaBundle,
  renewalTime,
  splitPemBundle,
  type CertificateBundle,
  type ServingKeyPair,
} from '../../../certs/index.ts';
import { FakeCaBundleTarget, FakeSecretStore, ManualTimers, apiError } from './fakes.ts';

// Each test makes real RSA keys; a loaded machine (parallel test files) can take seconds.
vi.setConfig({ testTimeout: 30_000 });

const DAY = 86_400_000;
const HOUR = 3_600_000;
const t0 = new Date('2026-06-01T00:00:00Z');
const opts = { namespace: 'kcr-system', secretName: 'kcr-webhook-tls', serviceName: 'kcr-webhook', validityDays: 30 };

function setup() {
  let now = t0;
  const clock = { now: () => now, set: (d: Date) => (now = d) };
  const secrets = new FakeSecretStore();
  const target = new FakeCaBundleTarget();
  target.configs.set('kcr-restore', ['']);
  const timers = new ManualTimers();
  const rotated: CertificateBundle[] = [];
  const announced: ServingKeyPair[] = [];
  const rotator = new CertificateRotator({
    ensure: async () => (await ensureServingCertificate({ secrets, now: clock.now }, opts)).bundle,
    publishCa: (ca) => publishCaBundle({ target, now: clock.now }, 'kcr-restore', ca),
    onRotate: (b) => void rotated.push(b),
    now: clock.now,
    timers,
    checkIntervalMs: HOUR,
    retryIntervalMs: 30_000,
  });
  rotator.onChange((p) => announced.push(p));
  return { clock, secrets, target, timers, rotated, announced, rotator };
}

// Timer callbacks are async; let them finish.
const settle = () => new Promise((r) => setTimeout(r, 50));

describe('nextCheckDelayMs', () => {
  const cert = generateCertificateBundle({ serviceName: 's', namespace: 'n', validityDays: 30, now: t0 }).cert;
  const due = renewalTime(cert).getTime();
  it.each([
    ['far from renewal: the interval', t0.getTime(), HOUR],
    ['renewal sooner than the interval', due - 5000, 5000],
    ['overdue: at least one second', due + DAY, 1000],
  ])('%s', (_label, t, expected) => {
    expect(nextCheckDelayMs(cert, new Date(t), HOUR)).toBe(expected);
  });

  it('never exceeds what setTimeout can wait (it would fire at once)', () => {
    const long = generateCertificateBundle({ serviceName: 's', namespace: 'n', validityDays: 3650, now: t0 }).cert;
    expect(nextCheckDelayMs(long, t0, 365 * DAY)).toBe(2 ** 31 - 1);
  });
});

describe('CertificateRotator', () => {
  it('starts with the Secret bundle, publishes its CA and schedules the next check', async () => {
    const s = setup();
    const b = await s.rotator.start();
    expect(s.target.configs.get('kcr-restore')![0]).toBe(b.caCert);
    expect(s.timers.delays()).toEqual([HOUR]);
    expect(s.rotated).toHaveLength(0);
    s.rotator.stop();
    expect(s.timers.pending.size).toBe(0);
  });

  it('renews at 2/3, keeps old and new CA in caBundle, and announces the new pair', async () => {
    const s = setup();
    const a = await s.rotator.start();
    s.clock.set(renewalTime(a.cert));
    s.timers.fireAll();
    await settle();
    expect(s.rotated).toHaveLength(1);
    const b = s.rotated[0]!;
    expect(b.cert).not.toBe(a.cert);
    expect(s.announced).toEqual([{ cert: b.cert, key: b.key }]);
    expect(s.rotator.current).toEqual(b);
    const bundle = splitPemBundle(s.target.configs.get('kcr-restore')![0]!).map((c) => c.fingerprint256);
    expect(bundle).toEqual([new X509Certificate(b.caCert).fingerprint256, new X509Certificate(a.caCert).fingerprint256]);
    expect(s.timers.delays()).toEqual([HOUR]);
    s.rotator.stop();
  });

  it('picks up a bundle renewed by another replica without writing the Secret', async () => {
    const s = setup();
    await s.rotator.start();
    const theirs = generateCertificateBundle({ serviceName: 'kcr-webhook', namespace: 'kcr-system', validityDays: 30, now: t0 });
    s.secrets.put('kcr-system', 'kcr-webhook-tls', bundleToSecretData(theirs));
    const writes = s.secrets.writes;
    s.timers.fireAll();
    await settle();
    expect(s.rotated).toEqual([theirs]);
    expect(s.secrets.writes).toBe(writes);
    s.rotator.stop();
  });

  it('does not announce when nothing changed', async () => {
    const s = setup();
    await s.rotator.start();
    s.clock.set(new Date(t0.getTime() + HOUR));
    s.timers.fireAll();
    await settle();
    expect(s.rotated).toHaveLength(0);
    expect(s.announced).toHaveLength(0);
    s.rotator.stop();
  });

  it('retries sooner after a failed check and recovers', async () => {
    const s = setup();
    await s.rotator.start();
    const get = s.secrets.get.bind(s.secrets);
    s.secrets.get = async () => {
      throw apiError(503);
    };
    s.timers.fireAll();
    await settle();
    expect(s.timers.delays()).toEqual([30_000]);
    s.secrets.get = get;
    s.timers.fireAll();
    await settle();
    expect(s.timers.delays()).toEqual([HOUR]);
    s.rotator.stop();
  });

  it('still serves when the webhook configuration is missing, and retries the CA publish sooner', async () => {
    const s = setup();
    s.target.configs.clear();
    const b = await s.rotator.start();
    expect(b.cert).toContain('BEGIN CERTIFICATE');
    expect(s.timers.delays()).toEqual([30_000]);
    // The configuration gets installed; the next check publishes and goes back to the interval.
    s.target.configs.set('kcr-restore', ['']);
    s.timers.fireAll();
    await settle();
    expect(s.target.configs.get('kcr-restore')![0]).toBe(b.caCert);
    expect(s.timers.delays()).toEqual([HOUR]);
    s.rotator.stop();
  });

  it('start rejects when no certificate can be had', async () => {
    const s = setup();
    s.secrets.get = async () => {
      throw apiError(403);
    };
    await expect(s.rotator.start()).rejects.toMatchObject({ code: 403 });
  });
});
