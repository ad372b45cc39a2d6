// Who may ask kcr's token service for registry access, and the credentials that prove it.
//
// Credentials are derived, not stored: password = HMAC-SHA256(credential key, what it is for),
// so the token service needs nothing but the key to check one, and rotating the key revokes
// them all. A namespace's pull credential also carries an epoch (now / rotation period): the
// controller rewrites each kcr-pull Secret when the epoch moves, and the previous epoch stays
// accepted for one more period so a pod created just before the change still pulls.
//
// Usernames: `kcr-pull.<namespace>` (a namespace is a DNS label: it holds no '.', so the name
// parses one way only) and `kcr-writer` (kcr's agents and controller). Pure.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type RegistryIdentity = { kind: 'namespace-puller'; namespace: string } | { kind: 'writer' };

export const WRITER_USERNAME = 'kcr-writer';
const PULLER_PREFIX = 'kcr-pull.';
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export interface Credential {
  username: string;
  password: string;
}

export function credentialEpoch(now: Date, rotationSeconds: number): number {
  return Math.floor(now.getTime() / 1000 / rotationSeconds);
}

function derive(key: Buffer, purpose: string): string {
  return createHmac('sha256', key).update(purpose).digest('base64url');
}

export function pullerCredential(key: Buffer, namespace: string, epoch: number): Credential {
  return { username: `${PULLER_PREFIX}${namespace}`, password: derive(key, `pull\n${namespace}\n${epoch}`) };
}

export function writerCredential(key: Buffer): Credential {
  return { username: WRITER_USERNAME, password: derive(key, 'writer') };
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The identity a username and password prove, or undefined (unknown user, wrong or expired password). */
export function identify(key: Buffer, given: Credential, now: Date, rotationSeconds: number): RegistryIdentity | undefined {
  if (given.username === WRITER_USERNAME) return same(given.password, writerCredential(key).password) ? { kind: 'writer' } : undefined;
  if (!given.username.startsWith(PULLER_PREFIX)) return undefined;
  const namespace = given.username.slice(PULLER_PREFIX.length);
  if (!NAMESPACE.test(namespace) || namespace.length > 63) return undefined;
  const epoch = credentialEpoch(now, rotationSeconds);
  const valid = [epoch, epoch - 1].some((e) => same(given.password, pullerCredential(key, namespace, e).password));
  return valid ? { kind: 'namespace-puller', namespace } : undefined;
}
