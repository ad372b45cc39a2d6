// Whether a stored bundle can keep serving, and if not, why. Pure.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { CertificateBundle } from './bundle.ts';
import { missingSubjectAltNames, needsRenewal } from './renewal.ts';

export interface WantedNames {
  dnsNames: string[];
  ipAddresses?: string[];
}

function keyMatches(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

function issuedBy(certPem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/**
 * undefined when the bundle is good to keep; otherwise a short reason for the log.
 * CA and serving cert are made together with the same lifetime, so either one
 * reaching 2/3 renews both (a serving cert never outlives its CA).
 */
export function bundleRenewalReason(bundle: CertificateBundle, wanted: WantedNames, now: Date): string | undefined {
  if (needsRenewal(bundle.cert, now)) return 'serving certificate due for renewal, expired or unreadable';
  if (needsRenewal(bundle.caCert, now)) return 'CA due for renewal, expired or unreadable';
  if (!issuedBy(bundle.cert, bundle.caCert)) return 'serving certificate not signed by the stored CA';
  if (!keyMatches(bundle.cert, bundle.key)) return 'serving key does not match the certificate';
  if (!keyMatches(bundle.caCert, bundle.caKey)) return 'CA key does not match the CA certificate';
  const missing = missingSubjectAltNames(bundle.cert, wanted);
  if (missing.length > 0) return `serving certificate lacks names: ${missing.join(', ')}`;
  return undefined;
}
