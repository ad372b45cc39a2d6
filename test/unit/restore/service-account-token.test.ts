// The rule kcr-controller-pod-writes holds a controller-created pod to, as the code applies it:
// a ServiceAccount other than default only without its token.
import { describe, expect, it } from 'vitest';
import { controllerCreateRefusal, mountsServiceAccountToken, serviceAccountOf, type ServiceAccountSpec } from '../../../src/restore/service-account-token.ts';

const TOKEN = { name: 'kube-api-access-x1', projected: { sources: [{ configMap: { name: 'kube-root-ca.crt' } }, { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } };
const CA_ONLY = { name: 'ca', projected: { sources: [{ configMap: { name: 'kube-root-ca.crt' } }] } };

describe('serviceAccountOf', () => {
  it('is the named ServiceAccount, the deprecated alias, or default', () => {
    expect(serviceAccountOf({ serviceAccountName: 'reader' })).toBe('reader');
    expect(serviceAccountOf({ serviceAccount: 'legacy' })).toBe('legacy');
    expect(serviceAccountOf({ serviceAccountName: '' })).toBe('default');
    expect(serviceAccountOf(undefined)).toBe('default');
  });
});

describe('controllerCreateRefusal', () => {
  it.each<[string, ServiceAccountSpec, boolean]>([
    ['default with its token', { volumes: [TOKEN] }, false],
    ['default, token asked for', { serviceAccountName: 'default', automountServiceAccountToken: true }, false],
    ['another without a token', { serviceAccountName: 'deployer', automountServiceAccountToken: false }, false],
    ['another, only a CA bundle projected', { serviceAccountName: 'deployer', volumes: [CA_ONLY] }, false],
    ['another with the mounted token', { serviceAccountName: 'deployer', volumes: [TOKEN] }, true],
    ['another with automount true', { serviceAccountName: 'deployer', automountServiceAccountToken: true }, true],
    ['another, automount false but a projected token asked for', { serviceAccountName: 'deployer', automountServiceAccountToken: false, volumes: [CA_ONLY, TOKEN] }, true],
    ['another through the deprecated alias', { serviceAccount: 'deployer', volumes: [TOKEN] }, true],
  ])('%s', (_name, spec, refused) => {
    expect(controllerCreateRefusal(spec) !== undefined).toBe(refused);
    if (refused) expect(controllerCreateRefusal(spec)).toContain('(kcr-controller-pod-writes)');
  });

  it('finds a projected serviceAccountToken among other sources only', () => {
    expect(mountsServiceAccountToken({ volumes: [CA_ONLY, { name: 'data' }] })).toBe(false);
    expect(mountsServiceAccountToken({ volumes: [{ name: 'data' }, TOKEN] })).toBe(true);
  });
});
