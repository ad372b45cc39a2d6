// Registry credentials from a pod's imagePullSecrets (kubernetes.io/dockerconfigjson), as the
// kubelet's keyring finds them: the entry whose key names the image's registry.
import type { RegistryCredentials } from './registry-client.ts';

/** Pure: the credentials for `registry` in a .dockerconfigjson document, if any. */
export function credentialsFor(dockerConfigJson: string, registry: string): RegistryCredentials | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(dockerConfigJson);
  } catch {
    return undefined;
  }
  const auths = (doc as { auths?: Record<string, { username?: string; password?: string; auth?: string }> }).auths ?? {};
  for (const [key, entry] of Object.entries(auths)) {
    const host = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    if (host !== registry) continue;
    if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i > 0) return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
    }
  }
  return undefined;
}
