// A registry bearer token: a JWT (RS256) with the claims distribution's token auth checks —
// iss (the registry's configured issuer), sub, aud (the registry's service), exp/nbf/iat,
// jti and access — and the libtrust key ID of the signing key in its header. Pure when the
// caller gives the token id.
import { randomUUID, sign, type KeyObject } from 'node:crypto';
import type { ScopeAccess } from './registry-scope.ts';

export interface TokenClaimsInput {
  issuer: string;
  service: string;
  subject: string;
  access: readonly ScopeAccess[];
  now: Date;
  ttlSeconds: number;
  /** Unique per token; a parameter so tests can fix it. */
  id?: string;
}

export interface SigningKey {
  privateKey: KeyObject;
  keyId: string;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Token issued `notBeforeSkewSeconds` early, so a registry whose clock runs late accepts it at once. */
const NOT_BEFORE_SKEW_SECONDS = 10;

export function signRegistryToken(input: TokenClaimsInput, key: SigningKey): string {
  const iat = Math.floor(input.now.getTime() / 1000);
  const header = { alg: 'RS256', typ: 'JWT', kid: key.keyId };
  const claims = {
    iss: input.issuer,
    sub: input.subject,
    aud: input.service,
    exp: iat + input.ttlSeconds,
    nbf: iat - NOT_BEFORE_SKEW_SECONDS,
    iat,
    jti: input.id ?? randomUUID(),
    access: input.access.map((a) => ({ type: a.type, name: a.name, actions: [...a.actions] })),
  };
  const body = `${b64(header)}.${b64(claims)}`;
  return `${body}.${sign('sha256', Buffer.from(body), key.privateKey).toString('base64url')}`;
}
