// Makes a CA and a serving certificate with node-forge. The clock is an argument
// so tests and the rotator decide what "now" is.
import { constants, generateKeyPairSync, privateEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import type { CertificateBundle } from './bundle.ts';
import { serviceDnsNames } from './service-dns-names.ts';

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

interface KeyPair {
  /** forge's view of the public key, for the certificate body. */
  publicKey: forge.pki.PublicKey;
  privateKey: KeyObject;
}

// Native RSA: forge.pki.rsa.generateKeyPair calls this same generateKeyPairSync when
// Node has it, we only skip the PEM round trip; pure-JS keygen would take seconds.
function newKeyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: KEY_BITS, publicExponent: 0x10001 });
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    privateKey,
  };
}

// DER prefix of a PKCS#1 v1.5 DigestInfo for SHA-256 (RFC 8017 section 9.2, note 1).
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/**
 * Signs with OpenSSL instead of forge's pure-JS RSA (milliseconds instead of ~100 ms
 * per signature). forge's cert.sign(key, md) only calls key.sign(md) with the
 * SHA-256 digest of the TBSCertificate; an RSA "private encrypt" of its DigestInfo
 * with type-1 padding is exactly the RSASSA-PKCS1-v1_5 signature forge would make.
 */
function sign(cert: forge.pki.Certificate, key: KeyObject): void {
  const signer = {
    sign(md: forge.md.MessageDigest): string {
      const digest = Buffer.from(md.digest().getBytes(), 'binary');
      const info = Buffer.concat([SHA256_DIGEST_INFO, digest]);
      return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, info).toString('binary');
    },
  };
  cert.sign(signer as unknown as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
}

const keyPem = (key: KeyObject) => key.export({ type: 'pkcs1', format: 'pem' }).toString();

function setValidity(cert: forge.pki.Certificate, now: Date, validityDays: number): void {
  if (!Number.isFinite(validityDays) || validityDays <= 0) {
    throw new RangeError(`validityDays must be a positive number, got ${validityDays}`);
  }
  cert.validity.notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  cert.validity.notAfter = new Date(now.getTime() + validityDays * DAY_MS);
}

// forge reads valueTagClass as the ASN.1 string type; @types/node-forge mistypes it as Class.
const UTF8_STRING = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;

function generateCa(commonName: string, now: Date, validityDays: number) {
  const keys = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex();
  setValidity(cert, now, validityDays);
  // UTF8String, as Go's x509 (the API server) rejects PrintableStrings holding characters
  // outside that type's alphabet, and then never calls the webhook.
  const subject = [
    { name: 'commonName', value: commonName, valueTagClass: UTF8_STRING },
    { name: 'organizationName', value: 'kcr', valueTagClass: UTF8_STRING },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  sign(cert, keys.privateKey);
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

/**
 * A self-signed certificate and its key for signing (not serving): what kcr's registry token
 * service signs with and the registry's `rootcertbundle` holds.
 */
export function generateSigningCertificate(commonName: string, now: Date, validityDays: number): { cert: string; key: string } {
  const signer = generateCa(commonName, now, validityDays);
  return { cert: lf(forge.pki.certificateToPem(signer.cert)), key: keyPem(signer.key) };
}

/** A fresh CA and a serving certificate for the Service's DNS names, signed by it. */
export function generateCertificateBundle(opts: CertificateBundleOptions): CertificateBundle {
  const dnsNames = [...serviceDnsNames(opts.serviceName, opts.namespace), ...(opts.extraDnsNames ?? [])];
  const sans = altNames(dnsNames, opts.ipAddresses ?? []);
  const ca = generateCa(`kcr-webhook-ca-${Math.floor(opts.now.getTime() / 1000)}`, opts.now, opts.validityDays);

  const keys = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex();
  setValidity(cert, opts.now, opts.validityDays);
  cert.setSubject([
    { name: 'commonName', value: serviceDnsNames(opts.serviceName, opts.namespace)[2]!, valueTagClass: UTF8_STRING },
  ]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: sans },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  sign(cert, ca.key);

  return {
    caCert: lf(forge.pki.certificateToPem(ca.cert)),
    caKey: keyPem(ca.key),
    cert: lf(forge.pki.certificateToPem(cert)),
    key: keyPem(keys.privateKey),
  };
}
