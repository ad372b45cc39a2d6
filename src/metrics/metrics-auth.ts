// Optional protection of the metrics port (KCR_METRICS_AUTH=kubernetes), kubebuilder's
// "authn/authz filter": the scraper's bearer token is checked with a TokenReview, and the user it
// names must be allowed `get` on the non-resource URL /metrics by a SubjectAccessReview (RBAC:
// the ClusterRole kcr:metrics-reader bound to Prometheus' ServiceAccount). Answers are kept for a
// minute per token, so a scrape every 30 s costs the API server two calls a minute per scraper.
import { createHash } from 'node:crypto';
import type { KubeJson } from '../kube/kube-json.ts';

export type MetricsAccess = 'allowed' | 'unauthenticated' | 'forbidden' | 'unavailable';

export interface ReviewedUser {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** The token of an `Authorization: Bearer <token>` header; undefined for anything else. Pure. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

/** What the two reviews' statuses mean for the scrape. Pure. */
export function metricsAccess(review: { authenticated?: boolean; user?: ReviewedUser } | undefined, allowed: boolean | undefined): MetricsAccess {
  if (review?.authenticated !== true || !review.user?.username) return 'unauthenticated';
  return allowed === true ? 'allowed' : 'forbidden';
}

export interface MetricsAuthorizerOptions {
  /** The non-resource URL asked about. Default /metrics. */
  path?: string;
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

/** Asks the API server; an answer is kept for ttlMs per token (hashed), an API failure never. */
export function metricsAuthorizer(api: KubeJson, options: MetricsAuthorizerOptions = {}): (authorization: string | undefined) => Promise<MetricsAccess> {
  const path = options.path ?? '/metrics';
  const ttlMs = options.ttlMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 1000;
  const now = options.now ?? Date.now;
  const known = new Map<string, { access: MetricsAccess; at: number }>();
  return async (authorization) => {
    const token = bearerToken(authorization);
    if (token === undefined) return 'unauthenticated';
    const key = createHash('sha256').update(token).digest('hex');
    const hit = known.get(key);
    if (hit && now() - hit.at < ttlMs) return hit.access;
    let access: MetricsAccess;
    try {
      const review = await api.create<{ status?: { authenticated?: boolean; user?: ReviewedUser } }>('/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token },
      });
      const user = review.status?.user;
      let allowed: boolean | undefined;
      if (review.status?.authenticated === true && user?.username) {
        const sar = await api.create<{ status?: { allowed?: boolean } }>('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: { user: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups ?? [], ...(user.extra ? { extra: user.extra } : {}), nonResourceAttributes: { path, verb: 'get' } },
        });
        allowed = sar.status?.allowed;
      }
      access = metricsAccess(review.status, allowed);
    } catch {
      return 'unavailable';
    }
    if (known.size >= maxEntries) known.delete(known.keys().next().value!);
    known.set(key, { access, at: now() });
    return access;
  };
}
