// Where a checkpoint image goes: one repository per namespace and workload identity, one tag
// per checkpoint. Names are sanitised to the distribution grammar, so any Kubernetes name (or
// a hostile one) yields a pushable reference. Pure functions.
import { createHash } from 'node:crypto';

/** distribution/reference: path-component = [a-z0-9]+ (separator [a-z0-9]+)*, separator = [_.]|__|[-]* */
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
export const REPOSITORY_PATTERN = new RegExp(`^${COMPONENT.source.slice(1, -1)}(?:/${COMPONENT.source.slice(1, -1)})*$`);
export const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** distribution's limit on a repository name. */
export const MAX_REPOSITORY_LENGTH = 255;
const MAX_COMPONENT_LENGTH = 100;

export function isValidRepository(name: string): boolean {
  return name.length <= MAX_REPOSITORY_LENGTH && REPOSITORY_PATTERN.test(name);
}

export function isValidTag(tag: string): boolean {
  return TAG_PATTERN.test(tag);
}

/** A short stable hash, appended when a name had to be shortened so two names stay distinct. */
function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

/** One path component in the grammar: lowercase, invalid runs -> '-', trimmed, never empty. */
export function sanitizeComponent(raw: string, maxLength = MAX_COMPONENT_LENGTH): string {
  let s = raw
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/[._-]+/g, (m) => (m === '.' || m === '_' || m === '__' || /^-+$/.test(m) ? m : '-'))
    .replace(/^[._-]+|[._-]+$/g, '');
  if (s === '') s = 'x';
  if (s.length > maxLength) {
    s = `${s.slice(0, maxLength - 9).replace(/[._-]+$/, '')}-${shortHash(raw)}`;
  }
  return s;
}

export interface RepositoryInput {
  /** e.g. 'kcr' or 'team/checkpoints'; may be empty. */
  prefix: string;
  namespace: string;
  identity: string;
}

/**
 * `<prefix>/<namespace>/<identity>`, each component sanitised; always a valid repository name.
 * Lengths: up to 3 prefix components of 25, namespace 63, identity 100 -> at most 242 < 255.
 */
export function repositoryFor({ prefix, namespace, identity }: RepositoryInput): string {
  return `${namespaceRepositoryPath(prefix, namespace)}/${sanitizeComponent(identity)}`;
}

/** `<prefix>/<namespace>`, sanitised as repositoryFor does: every repository of that namespace lies below it. */
export function namespaceRepositoryPath(prefix: string, namespace: string): string {
  return [...prefixComponents(prefix), sanitizeComponent(namespace, 63)].join('/');
}

/** The prefix as the repository path components it becomes (at most 3, each sanitised). */
export function prefixComponents(prefix: string): string[] {
  return prefix
    .split('/')
    .filter((p) => p.trim() !== '')
    .map((p) => sanitizeComponent(p, 25))
    .slice(0, 3);
}

/** `YYYYMMDDTHHMMSSZ`: sortable, tag-safe. */
export function compactTimestamp(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/** `<container>-<YYYYMMDDTHHMMSSZ>`, sanitised to the tag grammar, at most 128 characters. */
export function tagFor(container: string, at: Date): string {
  const stamp = compactTimestamp(at);
  let name = container.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[.-]+/, '');
  const room = 128 - stamp.length - 1;
  if (name.length > room) name = `${name.slice(0, room - 9)}-${shortHash(container)}`;
  return name === '' ? stamp : `${name}-${stamp}`;
}
