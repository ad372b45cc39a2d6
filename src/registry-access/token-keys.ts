// The token service's key material, kept in one Secret in kcr's namespace
// (`kcr-registry-token`): the signing certificate (what the registry trusts: its
// `auth.token.rootcertbundle`), its private key, and the key credentials are derived from.
// Bring your own by creating the Secret before installing; otherwise the controller makes one.
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { generateSigningCertificate } from '../../certs/generate.ts';
import { libtrustKeyId } from './libtrust-key-id.ts';
import type { SigningKey } from './registry-token.ts';

export const TOKEN_KEYS_SECRET = 'kcr-registry-token';
/** Secret data keys (also the file names where it is mounted). */
export const TOKEN_KEY_FILES = { cert: 'tls.crt', key: 'tls.key', credentialKey: 'credential-key' } as const;

export interface TokenKeyMaterial {
  /** PEM */
  cert: string;
  /** PEM */
  key: string;
  /** base64 of 32 random bytes */
  credentialKey: string;
}

export interface TokenKeys {
  signing: SigningKey;
  credentialKey: Buffer;
  cert: string;
}

const TEN_YEARS_DAYS = 3650;

export function newTokenKeyMaterial(now: Date): TokenKeyMaterial {
  const { cert, key } = generateSigningCertificate('kcr-registry-token-signer', now, TEN_YEARS_DAYS);
  return { cert, key, credentialKey: randomBytes(32).toString('base64') };
}

/** Checks and loads the material; throws with what is wrong (never with the key's bytes). */
export function loadTokenKeys(m: TokenKeyMaterial): TokenKeys {
  const privateKey = createPrivateKey(m.key);
  const cert = new X509Certificate(m.cert);
  if (!cert.checkPrivateKey(privateKey)) throw new Error(`${TOKEN_KEY_FILES.key} does not belong to ${TOKEN_KEY_FILES.cert}`);
  const credentialKey = Buffer.from(m.credentialKey.trim(), 'base64');
  if (credentialKey.length < 16) throw new Error(`${TOKEN_KEY_FILES.credentialKey} must hold at least 16 bytes (base64)`);
  return { signing: { privateKey, keyId: libtrustKeyId(cert.publicKey) }, credentialKey, cert: m.cert };
}

/** Secret data (base64 values) ⇄ material. */
export function tokenKeySecretData(m: TokenKeyMaterial): Record<string, string> {
  return {
    [TOKEN_KEY_FILES.cert]: Buffer.from(m.cert).toString('base64'),
    [TOKEN_KEY_FILES.key]: Buffer.from(m.key).toString('base64'),
    [TOKEN_KEY_FILES.credentialKey]: Buffer.from(m.credentialKey).toString('base64'),
  };
}

export function tokenKeyMaterialOf(data: Record<string, string> | undefined): TokenKeyMaterial | undefined {
  const get = (k: string) => (data?.[k] === undefined ? undefined : Buffer.from(data[k]!, 'base64').toString('utf8'));
  const cert = get(TOKEN_KEY_FILES.cert);
  const key = get(TOKEN_KEY_FILES.key);
  const credentialKey = get(TOKEN_KEY_FILES.credentialKey);
  return cert && key && credentialKey ? { cert, key, credentialKey } : undefined;
}
