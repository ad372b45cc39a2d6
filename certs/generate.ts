// Makes a CA and a serving certificate with node-forge. The clock is an argument
// so tests and the rotator decide what "now" is.
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import type { CertificateBundle } from './bundle.ts';
import { serviceDnsNames } from './serviceDnsNames.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
/** notBefore is set this far in the past so nodes with a slightly late clock accept the cert. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;
const KEY_BITS = 2048;

export interface CertificateBundleOptions {
  serviceName: string;
  namespace: string;
  validityDays: number;
  now: Date;
  extraDnsNames?: string[];
  ipAddresses?: string[];
}

/**
 * A random positive serial of 20 bytes (the RFC 5280 maximum). The top byte is
 * forced into 0x40..0x7f: high bit clear keeps the INTEGER positive, a non-zero
 * top byte keeps the DER encoding minimal (OpenSSL rejects a padded one).
 */
export function randomSerialHex(): string {
  const bytes = randomBytes(20);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

// forge uses Node's native generateKeyPairSync when it is available (Node always
// has it), which takes tens of milliseconds instead of seconds in pure JS.
function newKeyPair(): forge.pki.rsa.KeyPair {
  return forge.pki.rsa.generateKeyPair({ bits: KEY_BITS, e: 0x10001 });
}

function setValidity(cert: forge.pki.Certificate, now: Date, validityDays: number): void {
  if (!Number.isFinite(validityDays) || validityDays <= 0) {
    throw new RangeError(`validityDays must be a positive number, got ${validityDays}`);
  }
  cert.validity.notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  cert.validity.notAfter = new Date(now.getTime() + validityDays * DAY_MS);
}

function generateCa(commonName: string, now: Date, validityDays: number) {
  const keys = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex();
  setValidity(cert, now, validityDays);
  const subject = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'kcr' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert, key: keys.privateKey };
}

function altNames(dnsNames: string[], ipAddresses: string[]) {
  const names = [...new Set(dnsNames)].map((value) => ({ type: 2, value }));
  const ips = [...new Set(ipAddresses)].map((ip) => {
    if (isIP(ip) === 0) throw new RangeError(`not an IP address: ${JSON.stringify(ip)}`);
    return { type: 7, ip };
  });
  return [...names, ...ips];
}

// forge writes CRLF; Node, OpenSSL and kubectl output use LF.
const lf = (pem: string) => pem.replace(/\r\n/g, '\n');

/** A fresh CA and a serving certificate for the Service's DNS names, signed by it. */
export function generateCertificateBundle(opts: CertificateBundleOptions): CertificateBundle {
  const dnsNames = [...serviceDnsNames(opts.serviceName, opts.namespace), ...(opts.extraDnsNames ?? [])];
  const sans = altNames(dnsNames, opts.ipAddresses ?? []);
  const ca = generateCa(`kcr-webhook-ca@${Math.floor(opts.now.getTime() / 1000)}`, opts.now, opts.validityDays);

  const keys = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex();
  setValidity(cert, opts.now, opts.validityDays);
  cert.setSubject([{ name: 'commonName', value: serviceDnsNames(opts.serviceName, opts.namespace)[2]! }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: sans },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());

  return {
    caCert: lf(forge.pki.certificateToPem(ca.cert)),
    caKey: lf(forge.pki.privateKeyToPem(ca.key)),
    cert: lf(forge.pki.certificateToPem(cert)),
    key: lf(forge.pki.privateKeyToPem(keys.privateKey)),
  };
}
