// Which ServiceAccount a pod runs as, and whether it holds that ServiceAccount's token. A pod
// that kcr's controller creates (a bare pod recreated for a RestoreRequest) may hold a token only
// of its namespace's `default` ServiceAccount: the policy kcr-controller-pod-writes denies any
// other, because it cannot see the kept manifest and a stolen controller token could otherwise
// run a pod as any privileged ServiceAccount of any namespace. Pure; the same rule in code lets
// the controller refuse such a pod before it deletes it, not after.

export interface ServiceAccountSpec {
  serviceAccountName?: string;
  /** Deprecated alias of serviceAccountName; the API server still reads it. */
  serviceAccount?: string;
  automountServiceAccountToken?: boolean;
  volumes?: Array<{ name?: string; projected?: { sources?: Array<Record<string, unknown>> } }>;
}

export const DEFAULT_SERVICE_ACCOUNT = 'default';

/** The ServiceAccount the pod runs as: what the API server fills in when the spec names none. */
export function serviceAccountOf(spec: ServiceAccountSpec | undefined): string {
  const name = spec?.serviceAccountName || spec?.serviceAccount;
  return name ? name : DEFAULT_SERVICE_ACCOUNT;
}

/** A projected volume with a serviceAccountToken source: the token the kubelet mounts (kube-api-access-*, or one the user asked for). */
export function mountsServiceAccountToken(spec: ServiceAccountSpec | undefined): boolean {
  return (spec?.volumes ?? []).some((v) => (v.projected?.sources ?? []).some((s) => s.serviceAccountToken !== undefined && s.serviceAccountToken !== null));
}

/**
 * Why kcr's controller may not create this pod (undefined: it may). Mirrors the CREATE rule of
 * kcr-controller-pod-writes: a ServiceAccount other than default only without its token.
 */
export function controllerCreateRefusal(spec: ServiceAccountSpec | undefined): string | undefined {
  const account = serviceAccountOf(spec);
  if (account === DEFAULT_SERVICE_ACCOUNT) return undefined;
  if (spec?.automountServiceAccountToken !== true && !mountsServiceAccountToken(spec)) return undefined;
  return `it runs as ServiceAccount ${account} with its token mounted, and kcr's controller recreates a bare pod with a token only of the default ServiceAccount (kcr-controller-pod-writes); give the pod a controller (Deployment, StatefulSet) or set automountServiceAccountToken: false`;
}
