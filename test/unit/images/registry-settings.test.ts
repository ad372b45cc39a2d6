import { describe, expect, it } from 'vitest';
import { endpointFor, parseInsecureRegistries, registryOf, RegistrySettingError } from '../../../src/images/registry-endpoint.ts';
import { kindOfNetworkError, kindOfStatus, isTransientKind, registryErrorDetail } from '../../../src/images/registry-error.ts';

describe('registry endpoints', () => {
  it('verifies TLS unless the registry is listed', () => {
    expect(endpointFor('registry.example')).toEqual({ host: 'registry.example', scheme: 'https', tlsVerify: true, ca: undefined });
    const insecure = parseInsecureRegistries('http://127.0.0.1:5000, lab.example:8443');
    expect(endpointFor('127.0.0.1:5000', insecure)).toMatchObject({ scheme: 'http', tlsVerify: false });
    expect(endpointFor('LAB.example:8443', insecure)).toMatchObject({ scheme: 'https', tlsVerify: false });
    expect(endpointFor('lab.example', insecure)).toMatchObject({ scheme: 'https', tlsVerify: true });
  });

  it.each(['http://', 'a b/c', 'ftp://x y', 'host:port:1'])('rejects a bad insecure entry %j', (s) => {
    expect(() => parseInsecureRegistries(s)).toThrow(RegistrySettingError);
  });

  it.each([
    ['127.0.0.1:5000/kcr/a@sha256:00', '127.0.0.1:5000'],
    ['registry.example/x/y:1', 'registry.example'],
    ['localhost/x', 'localhost'],
    ['library/redis:7', 'docker.io'],
    ['redis', 'docker.io'],
  ])('registryOf(%s) = %s', (ref, host) => expect(registryOf(ref)).toBe(host));
});

describe('error classification', () => {
  it.each([
    [401, 'unauthorized', false],
    [403, 'unauthorized', false],
    [404, 'rejected', false],
    [400, 'rejected', false],
    [429, 'server', true],
    [500, 'server', true],
    [503, 'server', true],
  ] as const)('HTTP %i -> %s (transient %s)', (status, kind, transient) => {
    expect(kindOfStatus(status)).toBe(kind);
    expect(isTransientKind(kindOfStatus(status))).toBe(transient);
  });

  it.each([
    ['ECONNREFUSED', 'unreachable'],
    ['ECONNRESET', 'unreachable'],
    ['ENOTFOUND', 'unreachable'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'tls'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'tls'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'tls'],
  ] as const)('%s -> %s', (code, kind) => expect(kindOfNetworkError(code)).toBe(kind));

  it('reads the registry error document', () => {
    expect(registryErrorDetail('{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match"}]}')).toBe(
      'DIGEST_INVALID: provided digest did not match',
    );
    expect(registryErrorDetail('<html>')).toBeUndefined();
  });
});
