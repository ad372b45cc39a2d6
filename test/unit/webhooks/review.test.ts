// parseAdmissionReview: accepts what the API server sends, names the first wrong field otherwise.
import { describe, expect, it } from 'vitest';
import { InvalidReviewError, parseAdmissionReview, uidOf } from '../../../webhooks/review.ts';

const good = () => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: 'u-1',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: 'shop',
    operation: 'CREATE',
    object: { metadata: { name: 'p' } },
    oldObject: null,
    dryRun: false,
    options: { kind: 'CreateOptions' },
  },
});

describe('parseAdmissionReview', () => {
  it('returns the typed request of a valid review (null oldObject dropped)', () => {
    const r = parseAdmissionReview(good());
    expect(r).toEqual({
      uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop', operation: 'CREATE', object: { metadata: { name: 'p' } }, dryRun: false,
    });
  });

  const cases: Array<[string, (b: ReturnType<typeof good>) => unknown, string]> = [
    ['not an object', () => [1], 'the body must be a JSON object (an AdmissionReview), got an array'],
    ['wrong apiVersion', (b) => ({ ...b, apiVersion: 'admission.k8s.io/v1beta1' }), 'apiVersion must be "admission.k8s.io/v1", got "admission.k8s.io/v1beta1"'],
    ['wrong kind', (b) => ({ ...b, kind: 'Pod' }), 'kind must be "AdmissionReview", got "Pod"'],
    ['no request', (b) => ({ ...b, request: undefined }), 'request must be an object, got nothing'],
    ['request is a string', (b) => ({ ...b, request: 'x' }), 'request must be an object, got "x"'],
    ['no uid', (b) => ({ ...b, request: { ...b.request, uid: undefined } }), 'request.uid must be a non-empty string, got nothing'],
    ['empty uid', (b) => ({ ...b, request: { ...b.request, uid: '' } }), 'request.uid must be a non-empty string, got ""'],
    ['numeric uid', (b) => ({ ...b, request: { ...b.request, uid: 7 } }), 'request.uid must be a non-empty string, got 7'],
    ['kind missing', (b) => ({ ...b, request: { ...b.request, kind: null } }), 'request.kind must be an object, got null'],
    ['kind.kind missing', (b) => ({ ...b, request: { ...b.request, kind: { group: '', version: 'v1' } } }), 'request.kind.kind must be a non-empty string, got nothing'],
    ['resource.resource wrong type', (b) => ({ ...b, request: { ...b.request, resource: { group: '', version: 'v1', resource: 1 } } }), 'request.resource.resource must be a non-empty string, got 1'],
    ['bad operation', (b) => ({ ...b, request: { ...b.request, operation: 'PATCH' } }), 'request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got "PATCH"'],
    ['dryRun string', (b) => ({ ...b, request: { ...b.request, dryRun: 'yes' } }), 'request.dryRun must be a boolean, got "yes"'],
    ['namespace number', (b) => ({ ...b, request: { ...b.request, namespace: 3 } }), 'request.namespace must be a string, got 3'],
    ['object array', (b) => ({ ...b, request: { ...b.request, object: [] } }), 'request.object must be an object, got an array'],
  ];
  it.each(cases)('rejects %s', (_name, mutate, message) => {
    expect(() => parseAdmissionReview(mutate(good()))).toThrow(new InvalidReviewError(message));
  });

  it('bounds long values in messages', () => {
    const long = 'x'.repeat(500);
    try {
      parseAdmissionReview({ ...good(), kind: long });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(120);
    }
  });

  it('uidOf finds the uid of broken reviews for logs', () => {
    expect(uidOf({ request: { uid: 'abc' } })).toBe('abc');
    expect(uidOf({ request: { uid: '' } })).toBeUndefined();
    expect(uidOf('x')).toBeUndefined();
  });
});
