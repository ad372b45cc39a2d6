// Who may call the simulated kubelet, decided as the kubelet decides it: authenticate by
// client certificate (verified against the client CA) or bearer token (TokenReview), then
// authorize nodes/<subresource> with a SubjectAccessReview against the API server.
import type { AuthenticationV1Api, AuthorizationV1Api } from '@kubernetes/client-node';
import type { PeerCertificate } from 'node:tls';

export interface KubeletUser {
  name: string;
  groups: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

export interface KubeletRequestAttributes {
  verb: string;
  resource: 'nodes';
  subresource: string;
  name: string;
  path: string;
}

export interface KubeletAuthorizer {
  authorize(user: KubeletUser, attrs: KubeletRequestAttributes): Promise<boolean>;
}

export type TokenAuthenticator = (token: string) => Promise<KubeletUser | undefined>;

const VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

function isSubpath(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

/** The kubelet's nodeAuthorizerAttributesGetter (pkg/kubelet/server/auth.go), pure. */
export function kubeletRequestAttributes(method: string, path: string, nodeName: string): KubeletRequestAttributes {
  let subresource = 'proxy';
  if (isSubpath(path, '/stats')) subresource = 'stats';
  else if (isSubpath(path, '/metrics')) subresource = 'metrics';
  else if (isSubpath(path, '/logs')) subresource = 'log';
  else if (isSubpath(path, '/checkpoint')) subresource = 'checkpoint';
  return { verb: VERBS[method] ?? '', resource: 'nodes', subresource, name: nodeName, path };
}

/** The kubelet's 403 body. */
export function forbiddenMessage(user: KubeletUser, attrs: KubeletRequestAttributes): string {
  return `Forbidden (user=${user.name}, verb=${attrs.verb}, resource=${attrs.resource}, subresource(s)=[${attrs.subresource}])\n`;
}

/** The user of an x509 client certificate: CN is the name, each O a group. */
export function certificateUser(cert: PeerCertificate): KubeletUser | undefined {
  const cn = cert.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (!name) return undefined;
  const o = cert.subject.O as string | string[] | undefined;
  return { name, groups: o === undefined ? [] : Array.isArray(o) ? o : [o] };
}

/** Asks the API server (as the node) whether `user` may do `attrs`: what a kubelet in Webhook mode does. */
export function subjectAccessReviewAuthorizer(api: AuthorizationV1Api): KubeletAuthorizer {
  return {
    async authorize(user, attrs) {
      const review = await api.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.name,
            groups: user.groups,
            ...(user.uid ? { uid: user.uid } : {}),
            ...(user.extra ? { extra: user.extra } : {}),
            resourceAttributes: { verb: attrs.verb, resource: attrs.resource, subresource: attrs.subresource, name: attrs.name, version: 'v1', group: '' },
          },
        },
      });
      return review.status?.allowed === true;
    },
  };
}

/** Without an API server: only these users may call the kubelet (any subresource). */
export function allowListAuthorizer(users: string[]): KubeletAuthorizer {
  const allowed = new Set(users);
  return { authorize: async (user) => allowed.has(user.name) || user.groups.includes('system:masters') };
}

/** Bearer tokens (service-account tokens) checked with a TokenReview: the kubelet's webhook authn. */
export function tokenReviewAuthenticator(api: AuthenticationV1Api): TokenAuthenticator {
  return async (token) => {
    const review = await api.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } });
    const u = review.status?.user;
    if (review.status?.authenticated !== true || !u?.username) return undefined;
    const user: KubeletUser = { name: u.username, groups: u.groups ?? [] };
    if (u.uid) user.uid = u.uid;
    if (u.extra) user.extra = u.extra;
    return user;
  };
}
