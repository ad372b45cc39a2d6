import { X509Certificate, createPrivateKey } from 'node:crypto';
import forge from 'node-forge';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  CLOCK_SKEW_MS,
  generateCertificateBundle,
  randomSerialHex,
  serviceDnsNames,
  type CertificateBundle,
} from '../../../certs/index.ts';

// Each test makes real RSA keys; a loaded machine (parallel test files) can take seconds.
vi.setConfig({ testTimeout: 30_000 });

const DAY = 86_400_000;
const now = new Date('2026-03-01T12:00:00Z');
const opts = {
  serviceName: 'kcr-webhook',
  namespace: 'kcr-system',
  validityDays: 90,
  now,
  extraDnsNames: ['localhost'],
  ipAddresses: ['127.0.0.1', '::1'],
};
const a: CertificateBundle = generateCertificateBundle(opts);
const b: CertificateBundle = generateCertificateBundle(opts);
const x = (pem: string) => new X509Certificate(pem);
const fcert = (pem: string) => forge.pki.certificateFromPem(pem);

describe('serviceDnsNames', () => {
  it.each([
    ['kcr-webhook', 'kcr-system'],
    ['w', 'default'],
  ])('%s in %s gives the four forms the API server and tools use', (svc, ns) => {
    expect(serviceDnsNames(svc, ns)).toEqual([svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`]);
  });
});

describe('generateCertificateBundle', () => {
  it('puts the four Service names, the extra DNS names and the IPs in the SANs', () => {
    const ext = fcert(a.cert).getExtension('subjectAltName') as { altNames: { type: number; value?: string; ip?: string }[] };
    const dns = ext.altNames.filter((n) => n.type === 2).map((n) => n.value);
    const ips = ext.altNames.filter((n) => n.type === 7).map((n) => n.ip);
    expect(dns).toEqual([...serviceDnsNames('kcr-webhook', 'kcr-system'), 'localhost']);
    expect(ips).toEqual(['127.0.0.1', '::1']);
    // Node's view agrees, so OpenSSL-based clients (the API server is Go, but tests use Node) accept it.
    expect(x(a.cert).checkHost('kcr-webhook.kcr-system.svc')).toBe('kcr-webhook.kcr-system.svc');
    expect(x(a.cert).checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x(a.cert).checkHost('other.kcr-system.svc')).toBeUndefined();
  });

  it('works without extra names or IPs', () => {
    const c = generateCertificateBundle({ serviceName: 's', namespace: 'n', validityDays: 1, now });
    expect(x(c.cert).subjectAltName).toBe('DNS:s, DNS:s.n, DNS:s.n.svc, DNS:s.n.svc.cluster.local');
  });

  it('marks the serving cert for serverAuth only, digitalSignature + keyEncipherment, not a CA', () => {
    expect(x(a.cert).keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // Node lists extended key usage here
    const eku = fcert(a.cert).getExtension('extKeyUsage') as Record<string, unknown>;
    expect(eku.serverAuth).toBe(true);
    expect(eku.clientAuth).toBeFalsy();
    const ku = fcert(a.cert).getExtension('keyUsage') as Record<string, unknown>;
    expect(ku).toMatchObject({ digitalSignature: true, keyEncipherment: true, critical: true });
    expect(ku.keyCertSign).toBeFalsy();
    expect(x(a.cert).ca).toBe(false);
  });

  it('makes a CA with cA=true and keyCertSign', () => {
    expect(x(a.caCert).ca).toBe(true);
    const bc = fcert(a.caCert).getExtension('basicConstraints') as Record<string, unknown>;
    expect(bc).toMatchObject({ cA: true, critical: true });
    const ku = fcert(a.caCert).getExtension('keyUsage') as Record<string, unknown>;
    expect(ku.keyCertSign).toBe(true);
  });

  it('is valid for the configured days from now, backdated for clock skew', () => {
    for (const pem of [a.cert, a.caCert]) {
      expect(x(pem).validToDate.getTime()).toBe(now.getTime() + 90 * DAY);
      expect(x(pem).validFromDate.getTime()).toBe(now.getTime() - CLOCK_SKEW_MS);
    }
    const short = generateCertificateBundle({ ...opts, validityDays: 3 });
    expect(x(short.cert).validToDate.getTime() - now.getTime()).toBe(3 * DAY);
  });

  it('uses random positive serials: two bundles (and CA vs cert) differ', () => {
    const serials = [a.cert, a.caCert, b.cert, b.caCert].map((p) => x(p).serialNumber);
    expect(new Set(serials).size).toBe(4);
    for (const s of serials) {
      expect(s.length).toBeGreaterThanOrEqual(32); // >= 16 bytes
      expect(Number.parseInt(s.slice(0, 2), 16)).toBeLessThan(0x80); // high bit clear: positive
    }
  });

  it('uses 2048-bit RSA keys that match their certificates', () => {
    for (const [cert, key] of [
      [a.cert, a.key],
      [a.caCert, a.caKey],
    ] as const) {
      const k = createPrivateKey(key);
      expect(k.asymmetricKeyType).toBe('rsa');
      expect(k.asymmetricKeyDetails?.modulusLength).toBe(2048);
      expect(x(cert).checkPrivateKey(k)).toBe(true);
    }
  });

  it('chains to its own CA and not to another bundle CA', () => {
    expect(x(a.cert).checkIssued(x(a.caCert))).toBe(true);
    expect(x(a.cert).verify(x(a.caCert).publicKey)).toBe(true);
    expect(x(a.cert).verify(x(b.caCert).publicKey)).toBe(false);
    const store = forge.pki.createCaStore([a.caCert]);
    const validityCheckDate = new Date(now.getTime() + DAY);
    expect(forge.pki.verifyCertificateChain(store, [fcert(a.cert)], { validityCheckDate })).toBe(true);
    expect(() =>
      forge.pki.verifyCertificateChain(forge.pki.createCaStore([b.caCert]), [fcert(a.cert)], { validityCheckDate }),
    ).toThrow();
  });

  it('rejects a bad IP address and a non-positive validity', () => {
    expect(() => generateCertificateBundle({ ...opts, ipAddresses: ['localhost'] })).toThrow(/not an IP/);
    expect(() => generateCertificateBundle({ ...opts, validityDays: 0 })).toThrow(RangeError);
    expect(() => generateCertificateBundle({ ...opts, validityDays: Number.NaN })).toThrow(RangeError);
  });
});

describe('randomSerialHex', () => {
  it('is always 20 bytes with a top byte in 0x40..0x7f (positive, minimal DER)', () => {
    fc.assert(
      fc.property(fc.constant(null), () => {
        const s = randomSerialHex();
        const top = Number.parseInt(s.slice(0, 2), 16);
        return s.length === 40 && top >= 0x40 && top <= 0x7f;
      }),
      { numRuns: 500 },
    );
  });
});

describe('PEM output', () => {
  it('uses LF line endings like openssl and kubectl', () => {
    for (const pem of Object.values(a)) expect(pem).not.toContain('\r');
  });
});

describe('subject encoding', () => {
  // Go's x509 parser (kube-apiserver) refuses a PrintableString holding e.g. '@', and then
  // the API server silently skips the webhook (failurePolicy Ignore).
  const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
  function strings(node: forge.asn1.Asn1, out: { type: number; value: string }[] = []) {
    if (Array.isArray(node.value)) for (const child of node.value) strings(child, out);
    else if (node.tagClass === forge.asn1.Class.UNIVERSAL && [forge.asn1.Type.PRINTABLESTRING, forge.asn1.Type.UTF8].includes(node.type))
      out.push({ type: node.type, value: String(node.value) });
    return out;
  }
  it('every subject and issuer string is valid for its ASN.1 type', () => {
    const bundle = generateCertificateBundle({ serviceName: 'kcr-webhook', namespace: 'kcr-system', validityDays: 30, now: new Date() });
    for (const pem of [bundle.caCert, bundle.cert]) {
      const tbs = forge.asn1.fromDer(forge.pem.decode(pem)[0]!.body).value[0] as forge.asn1.Asn1;
      const fields = tbs.value as forge.asn1.Asn1[];
      // tbsCertificate: [0]version, serial, sigAlg, issuer, validity, subject, ...
      const names = [...strings(fields[3]!), ...strings(fields[5]!)];
      expect(names.length).toBeGreaterThan(0);
      for (const n of names) {
        if (n.type === forge.asn1.Type.PRINTABLESTRING) expect(n.value).toMatch(printable);
      }
    }
  });
  it('Node reads the CA common name back without the forbidden character', () => {
    const bundle = generateCertificateBundle({ serviceName: 'kcr-webhook', namespace: 'kcr-system', validityDays: 30, now: new Date(0) });
    expect(new X509Certificate(bundle.caCert).subject).toMatch(/CN=kcr-webhook-ca-0/);
  });
});
