// Checkpoint image references, and the rule that keeps each namespace to its own repositories:
// a status another party wrote must never point kcr at another namespace's memory.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inNamespaceRepositories, parseDigestReference } from '../../../src/rules/checkpoint-image-ref.ts';
import { repositoryFor } from '../../../src/images/repository-name.ts';

const d = `sha256:${'ab'.repeat(32)}`;
const WHERE = { registry: '127.0.0.1:5000', prefix: 'kcr' };

describe('parseDigestReference', () => {
  it.each([
    [`127.0.0.1:5000/kcr/ns/app@${d}`, { registry: '127.0.0.1:5000', repository: 'kcr/ns/app', digest: d }],
    [`r.example/a@${d}`, { registry: 'r.example', repository: 'a', digest: d }],
    ['r.example/a:tag', undefined],
    [`a@${d}`, undefined],
    ['r.example/a@sha256:short', undefined],
    [`r.example/a@${d} `, undefined],
    [`r.example/a@b@${d}`, undefined],
    [undefined, undefined],
  ])('%s', (ref, parts) => expect(parseDigestReference(ref)).toEqual(parts));
});

describe('inNamespaceRepositories', () => {
  it.each<[string, string, boolean]>([
    ['its own repository', `127.0.0.1:5000/kcr/team-a/web-0@${d}`, true],
    ['its own, deeper', `127.0.0.1:5000/kcr/team-a/web-0/x@${d}`, true],
    ['another namespace', `127.0.0.1:5000/kcr/team-b/web-0@${d}`, false],
    ['a namespace it is a prefix of', `127.0.0.1:5000/kcr/team-ab/web-0@${d}`, false],
    ['the namespace path itself, no identity', `127.0.0.1:5000/kcr/team-a@${d}`, false],
    ['outside the prefix', `127.0.0.1:5000/other/team-a/web-0@${d}`, false],
    ['no prefix at all', `127.0.0.1:5000/team-a/web-0@${d}`, false],
    ['another registry', `evil.example/kcr/team-a/web-0@${d}`, false],
    ['another port', `127.0.0.1:5001/kcr/team-a/web-0@${d}`, false],
    ['by tag', '127.0.0.1:5000/kcr/team-a/web-0:latest', false],
    ['a path climbing out', `127.0.0.1:5000/kcr/team-a/../team-b/web-0@${d}`, false],
    ['upper case (not a repository name)', `127.0.0.1:5000/kcr/team-a/Web-0@${d}`, false],
  ])('%s', (_name, image, ok) => {
    expect(inNamespaceRepositories(image, WHERE, 'team-a')).toBe(ok);
  });

  const name = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
  const prefix = fc.constantFrom('', 'kcr', 'kcr/checkpoints', 'a', 'a-b', 'kcr.io');

  it('accepts every repository the agent names for the namespace', () => {
    fc.assert(fc.property(prefix, name, name, (p, ns, identity) => {
      const image = `reg.example:5000/${repositoryFor({ prefix: p, namespace: ns, identity })}@${d}`;
      expect(inNamespaceRepositories(image, { registry: 'reg.example:5000', prefix: p }, ns)).toBe(true);
    }), { numRuns: 500 });
  });

  it('never accepts a repository the agent names for another namespace, however the names overlap', () => {
    const overlapping = fc.tuple(name, name).chain(([a, b]) => fc.constantFrom<[string, string]>([a, b], [a, `${a}-${b}`], [`${a}-${b}`, a], [a, `${a}${b}`], [`${a}.${b}`, a]));
    fc.assert(fc.property(prefix, overlapping, name, (p, [ns, other], identity) => {
      fc.pre(ns !== other);
      const image = `reg.example:5000/${repositoryFor({ prefix: p, namespace: other, identity })}@${d}`;
      expect(inNamespaceRepositories(image, { registry: 'reg.example:5000', prefix: p }, ns)).toBe(false);
    }), { numRuns: 1000 });
  });
});
