// The two Secrets of token mode in kcr's namespace: the token service's key material
// (kcr-registry-token: made here once when absent, or brought by the administrator) and kcr's
// own writer credential (the registry Secret, kcr-registry), which the agents mount and
// retention reads. Neither is ever written outside kcr's namespace.
import { apiCode, type KubeJson } from '../kube/kube-json.ts';
import { dockerConfigJson } from '../registry-access/pull-secret-plan.ts';
import type { Credential } from '../registry-access/registry-identity.ts';
import { TOKEN_KEYS_SECRET, loadTokenKeys, newTokenKeyMaterial, tokenKeyMaterialOf, tokenKeySecretData, type TokenKeys } from '../registry-access/token-keys.ts';

interface SecretLike {
  metadata?: { resourceVersion?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'kcr', 'app.kubernetes.io/part-of': 'kcr' };

const secretPath = (namespace: string, name?: string) => `/api/v1/namespaces/${namespace}/secrets${name ? `/${name}` : ''}`;

/** Reads kcr-registry-token, creating it when absent (a race with another replica reads the winner's). */
export async function ensureTokenKeys(api: KubeJson, namespace: string, now: Date): Promise<{ keys: TokenKeys; created: boolean }> {
  const read = async () => {
    try {
      return await api.get<SecretLike>(secretPath(namespace, TOKEN_KEYS_SECRET));
    } catch (err) {
      if (apiCode(err) === 404) return undefined;
      throw err;
    }
  };
  const existing = await read();
  if (existing) {
    const material = tokenKeyMaterialOf(existing.data);
    if (!material) throw new Error(`Secret ${namespace}/${TOKEN_KEYS_SECRET} lacks tls.crt, tls.key or credential-key`);
    return { keys: loadTokenKeys(material), created: false };
  }
  const material = newTokenKeyMaterial(now);
  try {
    await api.create(secretPath(namespace), {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: { name: TOKEN_KEYS_SECRET, namespace, labels: { ...MANAGED_BY } },
      data: tokenKeySecretData(material),
    });
    return { keys: loadTokenKeys(material), created: true };
  } catch (err) {
    if (apiCode(err) !== 409) throw err;
    const winner = await read();
    const m = tokenKeyMaterialOf(winner?.data);
    if (!m) throw new Error(`Secret ${namespace}/${TOKEN_KEYS_SECRET} appeared without its keys`, { cause: err });
    return { keys: loadTokenKeys(m), created: false };
  }
}

export type SecretWrite = 'created' | 'updated' | 'unchanged' | 'foreign';

/**
 * Creates or rewrites a dockerconfigjson Secret kcr owns (label `label`=true). One that exists
 * without the label is somebody else's and is left alone ('foreign').
 */
export async function upsertDockerConfigSecret(
  api: KubeJson,
  target: { namespace: string; name: string; label: string; annotations?: Record<string, string> },
  registry: string,
  credential: Credential,
): Promise<SecretWrite> {
  const data = { '.dockerconfigjson': Buffer.from(dockerConfigJson(registry, credential)).toString('base64') };
  const body = (resourceVersion?: string) => ({
    apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/dockerconfigjson',
    metadata: { name: target.name, namespace: target.namespace, labels: { ...MANAGED_BY, [target.label]: 'true' }, ...(target.annotations ? { annotations: target.annotations } : {}), ...(resourceVersion ? { resourceVersion } : {}) },
    data,
  });
  let existing: SecretLike | undefined;
  try {
    existing = await api.get<SecretLike>(secretPath(target.namespace, target.name));
  } catch (err) {
    if (apiCode(err) !== 404) throw err;
  }
  if (!existing) {
    await api.create(secretPath(target.namespace), body());
    return 'created';
  }
  if (existing.metadata?.labels?.[target.label] !== 'true') return 'foreign';
  if (existing.data?.['.dockerconfigjson'] === data['.dockerconfigjson']) return 'unchanged';
  await api.replace(secretPath(target.namespace, target.name), body(existing.metadata?.resourceVersion));
  return 'updated';
}

/** Deletes the Secret if it is still kcr's (labelled), with a precondition on what was read. */
export async function deleteOwnSecret(api: KubeJson, namespace: string, name: string, label: string): Promise<'deleted' | 'absent' | 'foreign'> {
  let existing: SecretLike & { metadata?: { uid?: string } };
  try {
    existing = await api.get(secretPath(namespace, name));
  } catch (err) {
    if (apiCode(err) === 404) return 'absent';
    throw err;
  }
  if (existing.metadata?.labels?.[label] !== 'true') return 'foreign';
  try {
    await api.delete(secretPath(namespace, name), { preconditions: { uid: existing.metadata?.uid, resourceVersion: existing.metadata?.resourceVersion } });
    return 'deleted';
  } catch (err) {
    if (apiCode(err) === 404) return 'absent';
    throw err;
  }
}

export interface TokenModeDeps {
  api: KubeJson;
  namespace: string;
  registry: string;
  /** The registry Secret the agents mount and retention reads (kcr-registry). */
  writerSecretName: string;
  writerCredential: (key: Buffer) => Credential;
  onCreatedKeys: () => void;
  onForeignWriterSecret: () => void;
  now?: () => Date;
}

/** How often the writer Secret is checked again (someone may delete it; the agents need it). */
const WRITER_CHECK_MS = 5 * 60_000;

/**
 * The credential key of token mode, read (or made) once; on the way, kcr's own writer
 * credential is kept in the registry Secret of kcr's namespace.
 */
export function tokenModeCredentials(deps: TokenModeDeps): { credentialKey(): Promise<Buffer> } {
  let keys: TokenKeys | undefined;
  let writerCheckedAt = -Infinity;
  const now = deps.now ?? (() => new Date());
  return {
    async credentialKey() {
      if (!keys) {
        const ensured = await ensureTokenKeys(deps.api, deps.namespace, now());
        if (ensured.created) deps.onCreatedKeys();
        keys = ensured.keys;
      }
      if (now().getTime() - writerCheckedAt >= WRITER_CHECK_MS) {
        const outcome = await upsertDockerConfigSecret(deps.api, { namespace: deps.namespace, name: deps.writerSecretName, label: 'kcr.io/writer-secret' }, deps.registry, deps.writerCredential(keys.credentialKey));
        if (outcome === 'foreign') deps.onForeignWriterSecret();
        writerCheckedAt = now().getTime();
      }
      return keys.credentialKey;
    },
  };
}
