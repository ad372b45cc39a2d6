import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  bundleRenewalReason,
  generateCertificateBundle,
  missingSubjectAltNames,
  needsRenewal,
  renewalTime,
  serviceDnsNames,
  subjectAltNames,
} from '../../../certs/index.ts';

// Each test makes real RSA keys; a loaded machine (parallel test files) can take seconds.
vi.setConfig({ testTimeout: 30_000 });

const DAY = 86_400_000;
const now = new Date('2026-05-10T08:00:00Z');
const bundle = generateCertificateBundle({
  serviceName: 'kcr-webhook',
  namespace: 'kcr-system',
  validityDays: 30,
  now,
  ipAddresses: ['127.0.0.1'],
});
const cert = new X509Certificate(bundle.cert);
const from = cert.validFromDate.getTime();
const to = cert.validToDate.getTime();
const renewAt = from + Math.floor(((to - from) * 2) / 3);
const at = (ms: number) => new Date(ms);

describe('renewalTime', () => {
  it('is notBefore + 2/3 of the lifetime', () => {
    expect(renewalTime(bundle.cert).getTime()).toBe(renewAt);
    expect(renewAt).toBeGreaterThan(now.getTime() + 19 * DAY);
    expect(renewAt).toBeLessThan(now.getTime() + 21 * DAY);
  });

  it('throws on a PEM that is not a certificate', () => {
    expect(() => renewalTime('garbage')).toThrow(TypeError);
    expect(() => renewalTime(bundle.key)).toThrow(TypeError);
  });
});

describe('needsRenewal', () => {
  it.each([
    ['right after issue', now.getTime(), false],
    ['halfway', from + (to - from) / 2, false],
    ['1 ms before 2/3', renewAt - 1, false],
    ['at 2/3', renewAt, true],
    ['after 2/3', renewAt + 1000, true],
    ['at notAfter', to, true],
    ['long expired', to + 365 * DAY, true],
    ['before notBefore (clock went back)', from - 1, true],
  ])('%s -> %s', (_label, t, expected) => {
    expect(needsRenewal(bundle.cert, at(t))).toBe(expected);
  });

  it.each([['not a cert'], [''], ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n']])(
    'is true for unparsable input %j',
    (pem) => {
      expect(needsRenewal(pem, now)).toBe(true);
    },
  );

  // Each run makes a real certificate, so keep the run count modest.
  const certs = fc.record({
    days: fc.integer({ min: 1, max: 3650 }),
    issuedAt: fc.date({ min: new Date('2000-01-01'), max: new Date('2090-01-01'), noInvalidDate: true }),
  });

  it('is monotonic in time once the certificate is valid: once true, true forever', () => {
    fc.assert(
      fc.property(certs, fc.array(fc.double({ min: 0, max: 3, noNaN: true }), { minLength: 2, maxLength: 20 }), (c, fractions) => {
        const pem = generateCertificateBundle({
          serviceName: 's',
          namespace: 'n',
          validityDays: c.days,
          now: c.issuedAt,
        }).cert;
        const x = new X509Certificate(pem);
        const start = x.validFromDate.getTime();
        const span = x.validToDate.getTime() - start;
        const times = fractions.map((f) => start + Math.floor(f * span)).sort((p, q) => p - q);
        const answers = times.map((t) => needsRenewal(pem, at(t)));
        // sorted times give a run of false followed by a run of true
        const firstTrue = answers.indexOf(true);
        if (firstTrue !== -1 && answers.slice(firstTrue).includes(false)) return false;
        // and the switch happens exactly at renewalTime
        return times.every((t, i) => answers[i] === t >= renewalTime(pem).getTime());
      }),
      { numRuns: 12 },
    );
  }, 60_000);
});

describe('subjectAltNames / missingSubjectAltNames', () => {
  it('reads back DNS names and IPs', () => {
    expect(subjectAltNames(bundle.cert)).toEqual({
      dnsNames: serviceDnsNames('kcr-webhook', 'kcr-system'),
      ipAddresses: ['127.0.0.1'],
    });
    expect(subjectAltNames('junk')).toEqual({ dnsNames: [], ipAddresses: [] });
  });

  it.each([
    [{ dnsNames: serviceDnsNames('kcr-webhook', 'kcr-system') }, []],
    [{ dnsNames: ['KCR-WEBHOOK.kcr-system.svc'] }, []],
    [{ dnsNames: ['kcr-webhook.kcr-system.svc', 'localhost'] }, ['localhost']],
    [{ dnsNames: serviceDnsNames('renamed', 'kcr-system') }, serviceDnsNames('renamed', 'kcr-system')],
    [{ dnsNames: [], ipAddresses: ['127.0.0.1', '10.0.0.1'] }, ['10.0.0.1']],
  ])('wanted %j -> missing %j', (wanted, missing) => {
    expect(missingSubjectAltNames(bundle.cert, wanted)).toEqual(missing);
  });
});

describe('bundleRenewalReason', () => {
  const wanted = { dnsNames: serviceDnsNames('kcr-webhook', 'kcr-system'), ipAddresses: ['127.0.0.1'] };
  const other = generateCertificateBundle({ serviceName: 'kcr-webhook', namespace: 'kcr-system', validityDays: 30, now });

  it('keeps a fresh, consistent bundle', () => {
    expect(bundleRenewalReason(bundle, wanted, now)).toBeUndefined();
  });

  it.each([
    ['near expiry', bundle, wanted, at(renewAt), /renewal/],
    ['serving cert from another CA', { ...bundle, cert: other.cert, key: other.key }, wanted, now, /not signed/],
    ['key of another cert', { ...bundle, key: other.key }, wanted, now, /key does not match/],
    ['CA key of another CA', { ...bundle, caKey: other.caKey }, wanted, now, /CA key/],
    ['a wanted name is missing', bundle, { ...wanted, dnsNames: [...wanted.dnsNames, 'localhost'] }, now, /localhost/],
    ['garbage cert', { ...bundle, cert: 'x' }, wanted, now, /unreadable/],
  ])('renews when %s', (_label, b, w, t, reason) => {
    expect(bundleRenewalReason(b, w, t)).toMatch(reason);
  });
});
