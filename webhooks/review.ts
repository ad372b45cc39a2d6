// Turns the parsed body of POST /mutate into a typed AdmissionRequest, or says
// exactly what is wrong with it. The API server only sends admission.k8s.io/v1
// (the webhook configuration lists admissionReviewVersions: ["v1"]).
import type { AdmissionRequest, GroupVersionKind, GroupVersionResource, Operation } from './admission.ts';

/** The body is not an admission.k8s.io/v1 AdmissionReview with a usable request. */
export class InvalidReviewError extends Error {
  override name = 'InvalidReviewError';
}

const OPERATIONS: ReadonlySet<string> = new Set<Operation>(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short, bounded rendering of a bad value for error messages. */
function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v);
  return s.length > 64 ? `${s.slice(0, 61)}...` : s;
}

function fail(path: string, expected: string, got: unknown): never {
  throw new InvalidReviewError(`${path} must be ${expected}, got ${show(got)}`);
}

function requiredString(o: Obj, key: string, path: string, allowEmpty: boolean): string {
  const v = o[key];
  if (typeof v !== 'string' || (!allowEmpty && v === '')) {
    fail(`${path}.${key}`, allowEmpty ? 'a string' : 'a non-empty string', v);
  }
  return v;
}

function optionalString(o: Obj, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(`${path}.${key}`, 'a string', v);
  return v;
}

function groupVersion(o: Obj, key: string, path: string): { v: Obj; here: string; group: string; version: string } {
  const v = o[key];
  const here = `${path}.${key}`;
  if (!isObject(v)) fail(here, 'an object', v);
  return { v, here, group: requiredString(v, 'group', here, true), version: requiredString(v, 'version', here, false) };
}

function groupVersionKind(o: Obj, key: string, path: string): GroupVersionKind {
  const { v, here, group, version } = groupVersion(o, key, path);
  return { group, version, kind: requiredString(v, 'kind', here, false) };
}

function groupVersionResource(o: Obj, key: string, path: string): GroupVersionResource {
  const { v, here, group, version } = groupVersion(o, key, path);
  return { group, version, resource: requiredString(v, 'resource', here, false) };
}

function optionalObject(o: Obj, key: string, path: string): Obj | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) fail(`${path}.${key}`, 'an object', v);
  return v;
}

/**
 * Validates an AdmissionReview body and returns its request. Throws
 * InvalidReviewError naming the first field that is wrong.
 */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!isObject(body)) fail('the body', 'a JSON object (an AdmissionReview)', body);
  if (body.apiVersion !== 'admission.k8s.io/v1') fail('apiVersion', '"admission.k8s.io/v1"', body.apiVersion);
  if (body.kind !== 'AdmissionReview') fail('kind', '"AdmissionReview"', body.kind);
  const r = body.request;
  if (!isObject(r)) fail('request', 'an object', r);
  const p = 'request';

  const uid = requiredString(r, 'uid', p, false);
  const kind = groupVersionKind(r, 'kind', p);
  const resource = groupVersionResource(r, 'resource', p);
  const operation = r.operation;
  if (typeof operation !== 'string' || !OPERATIONS.has(operation)) {
    fail(`${p}.operation`, 'one of CREATE, UPDATE, DELETE, CONNECT', operation);
  }
  const dryRun = r.dryRun;
  if (dryRun !== undefined && dryRun !== null && typeof dryRun !== 'boolean') fail(`${p}.dryRun`, 'a boolean', dryRun);

  const request: AdmissionRequest = { uid, kind, resource, operation: operation as Operation };
  const subResource = optionalString(r, 'subResource', p);
  if (subResource !== undefined) request.subResource = subResource;
  const name = optionalString(r, 'name', p);
  if (name !== undefined) request.name = name;
  const namespace = optionalString(r, 'namespace', p);
  if (namespace !== undefined) request.namespace = namespace;
  if (typeof dryRun === 'boolean') request.dryRun = dryRun;
  const object = optionalObject(r, 'object', p);
  if (object !== undefined) request.object = object;
  const oldObject = optionalObject(r, 'oldObject', p);
  if (oldObject !== undefined) request.oldObject = oldObject;
  const userInfo = optionalObject(r, 'userInfo', p);
  if (userInfo !== undefined) request.userInfo = userInfo as NonNullable<AdmissionRequest['userInfo']>;
  return request;
}

/** The uid of a body that may not be a valid review, for logs of rejected requests. */
export function uidOf(body: unknown): string | undefined {
  if (!isObject(body) || !isObject(body.request)) return undefined;
  const uid = body.request.uid;
  return typeof uid === 'string' && uid !== '' ? uid : undefined;
}
