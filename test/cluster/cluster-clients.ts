// What every cluster test file needs: the cluster the global setup provided, API clients
// for a kubeconfig, throwaway namespaces, and polling.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { inject } from 'vitest';
import type { ManifestSubset, TestCluster } from './kcr-in-cluster.ts';
import { apiCode, type KubeApiError } from '../../src/kube/api-error.ts';

export function testCluster(): TestCluster {
  return inject('kcrCluster');
}

/** kcr's manifests as the global setup applied them (CRDs, namespace, RBAC); throws why not. */
export function installedKcr(): ManifestSubset {
  const r = inject('kcrInstall');
  if (r.error !== undefined) throw new Error(`kcr's manifests could not be applied: ${r.error}`);
  return r.subset;
}

export interface Clients {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  admission: AdmissionregistrationV1Api;
  rbac: RbacAuthorizationV1Api;
}

export function clientsFor(kubeconfigFile: string): Clients {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigFile);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    admission: kc.makeApiClient(AdmissionregistrationV1Api),
    rbac: kc.makeApiClient(RbacAuthorizationV1Api),
  };
}

export { apiCode };

/** The Kubernetes Status message of a failed API call. */
export function apiMessage(err: unknown): string {
  if (apiCode(err) === undefined) return err instanceof Error ? err.message : String(err);
  const body: unknown = (err as KubeApiError).body;
  if (typeof body === 'string') {
    try {
      return String((JSON.parse(body) as { message?: unknown }).message ?? body);
    } catch {
      return body;
    }
  }
  if (body !== null && typeof body === 'object' && 'message' in body) return String(body.message);
  return (err as KubeApiError).message;
}

/** Runs `call`, expecting it to fail; returns its ApiException's code and message. */
export async function expectApiError(call: () => Promise<unknown>): Promise<{ code: number | undefined; message: string }> {
  try {
    await call();
  } catch (err) {
    return { code: apiCode(err), message: apiMessage(err) };
  }
  throw new Error('expected the API call to fail, but it succeeded');
}

/** Polls `fn` until it returns a value other than undefined. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${apiMessage(last)}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** A new namespace with a random suffix; delete it with deleteNamespace. */
export async function createNamespace(core: CoreV1Api, prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels } } });
  // Pods in a fresh namespace need its default ServiceAccount (ServiceAccount admission).
  await eventually(`ServiceAccount default in ${name}`, async () => core.readNamespacedServiceAccount({ name: 'default', namespace: name }));
  return name;
}

export async function deleteNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.deleteNamespace({ name });
  } catch (err) {
    if (apiCode(err) !== 404) throw err;
  }
}

/**
 * Sets a kcr object's status through /status with a merge patch, as a status writer would: no
 * resourceVersion, so a controller that just added its finalizer to the new object does not
 * make the write fail with 409.
 */
export async function setStatus(c: Clients, target: { group: string; version: string; namespace: string; plural: string; name: string }, status: Record<string, unknown>): Promise<void> {
  await c.custom.patchNamespacedCustomObjectStatus({ ...target, body: { status } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}
