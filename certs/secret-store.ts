// Where the bundle is kept: a kubernetes.io/tls Secret. ca.key is stored too so
// that every webhook replica (and the next renewal) uses one shared CA.
import type { CertificateBundle } from './bundle.ts';

/** A Secret's data, already base64-decoded, with the version used for optimistic writes. */
export interface StoredSecret {
  data: Record<string, string>;
  resourceVersion: string;
}

/**
 * The three Secret operations ensureServingCertificate needs. create and replace
 * reject with a client-node ApiException: 409 when the Secret already exists or
 * the resourceVersion is stale (another replica wrote first).
 */
export interface SecretStore {
  get(namespace: string, name: string): Promise<StoredSecret | undefined>;
  create(namespace: string, name: string, data: Record<string, string>): Promise<StoredSecret>;
  replace(namespace: string, name: string, data: Record<string, string>, resourceVersion: string): Promise<StoredSecret>;
}

export const SECRET_KEYS = { cert: 'tls.crt', key: 'tls.key', caCert: 'ca.crt', caKey: 'ca.key' } as const;

export function bundleToSecretData(bundle: CertificateBundle): Record<string, string> {
  return {
    [SECRET_KEYS.cert]: bundle.cert,
    [SECRET_KEYS.key]: bundle.key,
    [SECRET_KEYS.caCert]: bundle.caCert,
    [SECRET_KEYS.caKey]: bundle.caKey,
  };
}

/** undefined when a key is missing or empty (e.g. a Secret made by hand or by another tool). */
export function bundleFromSecretData(data: Record<string, string>): CertificateBundle | undefined {
  const cert = data[SECRET_KEYS.cert];
  const key = data[SECRET_KEYS.key];
  const caCert = data[SECRET_KEYS.caCert];
  const caKey = data[SECRET_KEYS.caKey];
  if (!cert || !key || !caCert || !caKey) return undefined;
  return { cert, key, caCert, caKey };
}
