// How to reach one registry: HTTPS with verification unless the registry is listed as insecure.
// `insecureRegistries` entries: `host:port` (HTTPS, certificate not verified) or
// `http://host:port` (plain HTTP). Pure.

export interface RegistryEndpoint {
  /** host[:port] as it appears in image references. */
  host: string;
  scheme: 'https' | 'http';
  /** Verify the server certificate (HTTPS only). */
  tlsVerify: boolean;
  /** Extra CA certificates (PEM) to trust for this registry, in addition to the system's. */
  ca?: string | undefined;
}

export interface InsecureRegistry {
  host: string;
  plainHttp: boolean;
}

export class RegistrySettingError extends Error {
  override name = 'RegistrySettingError';
}

const HOST = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$|^\[[0-9a-f:.]+\](:[0-9]{1,5})?$/;

/** Parses a comma/space separated list, e.g. `http://127.0.0.1:5000, registry.lan:443`. */
export function parseInsecureRegistries(list: string): InsecureRegistry[] {
  const out: InsecureRegistry[] = [];
  for (const raw of list.split(/[\s,]+/)) {
    if (raw === '') continue;
    const lower = raw.toLowerCase();
    const plainHttp = lower.startsWith('http://');
    const host = lower.replace(/^https?:\/\//, '').replace(/\/+$/, '');
    if (!HOST.test(host)) {
      throw new RegistrySettingError(`insecure registry ${JSON.stringify(raw)} is not host[:port] or http://host[:port]`);
    }
    out.push({ host, plainHttp });
  }
  return out;
}

export function endpointFor(host: string, insecure: readonly InsecureRegistry[] = [], ca?: string): RegistryEndpoint {
  const h = host.toLowerCase();
  const entry = insecure.find((e) => e.host === h);
  if (!entry) return { host: h, scheme: 'https', tlsVerify: true, ca };
  return { host: h, scheme: entry.plainHttp ? 'http' : 'https', tlsVerify: false, ca };
}

/** The registry part of an image reference `host[:port]/repo[:tag|@digest]`. */
export function registryOf(reference: string): string {
  const first = reference.split('/')[0] ?? '';
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : 'docker.io';
}
