// The caBundle the API server uses to verify the webhook. Pure.
//
// When the CA is renewed the new bundle holds the new CA first and keeps the
// previous, still unexpired CAs: replicas that have not reloaded yet (and API
// server connections already open) still serve certificates signed by the old
// CA and must keep verifying. An old CA leaves the bundle when it expires; with
// renewal at 2/3 of the lifetime at most two CAs are valid at once.
import { X509Certificate } from 'node:crypto';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
/** A bound against a bundle that grows through some bug or hand edit. */
export const MAX_CAS_IN_BUNDLE = 3;

/** The certificates in a PEM bundle, normalised; unparsable blocks are dropped. */
export function splitPemBundle(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const block of pem.match(PEM_BLOCK) ?? []) {
    try {
      out.push(new X509Certificate(block));
    } catch {
      // a corrupt entry cannot verify anything; leave it out
    }
  }
  return out;
}

/** newCa first, then the distinct unexpired CAs of the current bundles, newest first. */
export function mergeCaBundle(currentBundles: string[], newCaPem: string, now: Date): string {
  const newCa = new X509Certificate(newCaPem);
  const seen = new Set([newCa.fingerprint256]);
  const older: X509Certificate[] = [];
  for (const cert of currentBundles.flatMap(splitPemBundle)) {
    if (seen.has(cert.fingerprint256)) continue;
    seen.add(cert.fingerprint256);
    if (cert.validToDate.getTime() <= now.getTime()) continue;
    older.push(cert);
  }
  older.sort((a, b) => b.validFromDate.getTime() - a.validFromDate.getTime());
  return [newCa, ...older.slice(0, MAX_CAS_IN_BUNDLE - 1)].map((c) => c.toString()).join('');
}
