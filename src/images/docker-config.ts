// Registry credentials from a kubernetes.io/dockerconfigjson Secret's `.dockerconfigjson`.
// Pure parser. Errors never quote the content: it holds passwords.

export interface RegistryCredentials {
  username: string;
  password: string;
}

/** Registry host (host[:port], lowercased) -> credentials. */
export type CredentialStore = ReadonlyMap<string, RegistryCredentials>;

export class DockerConfigError extends Error {
  override name = 'DockerConfigError';
}

const DOCKER_HUB_ALIASES = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];

/**
 * `https://index.docker.io/v1/`, `http://host:5000/path`, `Host:5000` -> `index.docker.io`,
 * `host:5000`: the key a registry is looked up by.
 */
export function normalizeRegistryHost(key: string): string {
  let s = key.trim().toLowerCase();
  s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  const slash = s.indexOf('/');
  if (slash >= 0) s = s.slice(0, slash);
  return s;
}

function entryCredentials(entry: unknown, key: string): RegistryCredentials | undefined {
  if (entry === null || typeof entry !== 'object') {
    throw new DockerConfigError(`entry for registry ${JSON.stringify(normalizeRegistryHost(key))} is not an object`);
  }
  const e = entry as Record<string, unknown>;
  if (typeof e.username === 'string' && typeof e.password === 'string' && e.username !== '') {
    return { username: e.username, password: e.password };
  }
  if (typeof e.auth === 'string' && e.auth !== '') {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      throw new DockerConfigError(
        `"auth" for registry ${JSON.stringify(normalizeRegistryHost(key))} is not base64 of "username:password"`,
      );
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  // An entry without credentials (e.g. only an email) is allowed and ignored.
  return undefined;
}

/** Parses `.dockerconfigjson` (or a legacy `.dockercfg` without the `auths` wrapper). */
export function parseDockerConfigJson(content: string | Uint8Array): CredentialStore {
  const text = typeof content === 'string' ? content : Buffer.from(content).toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new DockerConfigError('.dockerconfigjson is not valid JSON');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new DockerConfigError('.dockerconfigjson must be a JSON object');
  }
  const root = doc as Record<string, unknown>;
  const auths = 'auths' in root ? root.auths : root;
  if (auths === null || typeof auths !== 'object' || Array.isArray(auths)) {
    throw new DockerConfigError('.dockerconfigjson "auths" must be an object');
  }
  const store = new Map<string, RegistryCredentials>();
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    const creds = entryCredentials(entry, key);
    if (creds) store.set(normalizeRegistryHost(key), creds);
  }
  return store;
}

/** The credentials for a registry host, if any (Docker Hub's aliases are one registry). */
export function credentialsFor(store: CredentialStore, registryHost: string): RegistryCredentials | undefined {
  const host = normalizeRegistryHost(registryHost);
  const exact = store.get(host);
  if (exact) return exact;
  if (DOCKER_HUB_ALIASES.includes(host)) {
    for (const alias of DOCKER_HUB_ALIASES) {
      const c = store.get(alias);
      if (c) return c;
    }
  }
  return undefined;
}
