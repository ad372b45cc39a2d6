// Checkpoint images by digest, and whose they are. A checkpoint is a memory dump: kcr restores
// from, and deletes, only images under the namespace's own repositories
// (<registry>/<prefix>/<namespace>/…, as the agent names them: src/images/repository-name.ts),
// whatever a Checkpoint's status says — a status someone else could have written must never
// make kcr hand namespace B's memory to a pod in A, or delete B's images. Pure.
import { isValidRepository, namespaceRepositoryPath, prefixComponents } from '../images/repository-name.ts';

export interface DigestReference {
  /** host[:port] */
  registry: string;
  repository: string;
  /** sha256:<64 hex> */
  digest: string;
}

const DIGEST_REFERENCE = /^([^/@\s]+)\/([^@\s]+)@(sha256:[a-f0-9]{64})$/;

/** `host[:port]/repo/path@sha256:…` → its parts; undefined for anything else (tags, no host, short digests). */
export function parseDigestReference(reference: string | undefined): DigestReference | undefined {
  const m = DIGEST_REFERENCE.exec(reference ?? '');
  return m ? { registry: m[1]!, repository: m[2]!, digest: m[3]! } : undefined;
}

/** Where kcr keeps checkpoint images (KCR_REGISTRY, KCR_REGISTRY_PREFIX). */
export interface CheckpointRepositories {
  registry: string;
  prefix: string;
}

/**
 * The image is a checkpoint image of `namespace`: by digest, on kcr's registry, in a repository
 * below `<prefix>/<namespace>/` — compared by whole path components, so `team-a` never matches
 * `team-ab` and a prefix never matches a longer one.
 */
export function inNamespaceRepositories(image: string | undefined, where: CheckpointRepositories, namespace: string): boolean {
  const ref = parseDigestReference(image);
  return ref !== undefined && ref.registry.toLowerCase() === where.registry.toLowerCase() && isNamespaceRepository(ref.repository, where.prefix, namespace);
}

/**
 * The repository name lies below `<prefix>/<namespace>/`, by whole path components. One rule
 * for images kcr restores or deletes and for the registry scopes its token service grants.
 */
export function isNamespaceRepository(repository: string, prefix: string, namespace: string): boolean {
  // A name outside the distribution grammar ('..', upper case) is no repository kcr made.
  if (!isValidRepository(repository)) return false;
  const own = namespaceRepositoryPath(prefix, namespace).split('/');
  const path = repository.split('/');
  return path.length > own.length && own.every((component, i) => path[i] === component);
}

/** The repository lies below kcr's prefix (by whole components): kcr's own, whichever namespace. */
export function underPrefix(repository: string, prefix: string): boolean {
  if (!isValidRepository(repository)) return false;
  const own = prefixComponents(prefix);
  const path = repository.split('/');
  return path.length > own.length && own.every((c, i) => path[i] === c);
}
