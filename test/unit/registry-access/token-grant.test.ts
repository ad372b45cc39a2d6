// What kcr's token service grants: a namespace's puller only pulls its own namespace's
// repositories; kcr's writer pulls, pushes and deletes under the prefix. Whatever the names.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { repositoryFor } from '../../../src/images/repository-name.ts';
import { parseScope, parseScopes } from '../../../src/registry-access/registry-scope.ts';
import { grantedAccess } from '../../../src/registry-access/token-grant.ts';

const puller = (namespace: string) => ({ kind: 'namespace-puller' as const, namespace });
const writer = { kind: 'writer' as const };
const scope = (s: string) => parseScope(s)!;

describe('parseScope', () => {
  it.each([
    ['repository:kcr/a/web:pull', { type: 'repository', name: 'kcr/a/web', actions: ['pull'] }],
    ['repository:kcr/a/web:pull,push', { type: 'repository', name: 'kcr/a/web', actions: ['pull', 'push'] }],
    ['repository:kcr/a/web:pull,pull', { type: 'repository', name: 'kcr/a/web', actions: ['pull'] }],
    ['registry:catalog:*', { type: 'registry', name: 'catalog', actions: ['*'] }],
    ['repository:kcr/a/web:', undefined],
    ['repository::pull', undefined],
    ['repository', undefined],
    [':a:b', undefined],
  ])('%s', (s, parsed) => expect(parseScope(s)).toEqual(parsed));

  it('splits space-separated scopes and drops malformed ones', () => {
    expect(parseScopes(['repository:a/b:pull repository:c/d:push', 'nonsense'])).toHaveLength(2);
  });
});

describe('grantedAccess', () => {
  it.each<[string, Parameters<typeof grantedAccess>[0], string, string[] | undefined]>([
    ['puller pulls its own', puller('team-a'), 'repository:kcr/team-a/web-0:pull', ['pull']],
    ['puller asking push and pull gets pull', puller('team-a'), 'repository:kcr/team-a/web-0:pull,push', ['pull']],
    ['puller never deletes', puller('team-a'), 'repository:kcr/team-a/web-0:delete', undefined],
    ['puller never *', puller('team-a'), 'repository:kcr/team-a/web-0:*', undefined],
    ['puller, another namespace', puller('team-a'), 'repository:kcr/team-b/web-0:pull', undefined],
    ['puller, a namespace it is a prefix of', puller('team'), 'repository:kcr/team-a/web-0:pull', undefined],
    ['puller, its namespace path alone', puller('team-a'), 'repository:kcr/team-a:pull', undefined],
    ['puller, outside the prefix', puller('team-a'), 'repository:other/team-a/web-0:pull', undefined],
    ['puller, a path climbing out', puller('team-a'), 'repository:kcr/team-a/../team-b/web-0:pull', undefined],
    ['puller, the catalog', puller('team-a'), 'registry:catalog:*', undefined],
    ['writer pushes', writer, 'repository:kcr/team-a/web-0:pull,push', ['pull', 'push']],
    ['writer deletes', writer, 'repository:kcr/team-b/web-0:delete', ['delete']],
    ['writer, outside the prefix', writer, 'repository:other/web:pull,push', undefined],
    ['writer, a prefix-like name', writer, 'repository:kcrx/team-a/web:pull', undefined],
    ['writer, the catalog', writer, 'registry:catalog:*', ['*']],
    ['anonymous', undefined, 'repository:kcr/team-a/web-0:pull', undefined],
  ])('%s', (_n, identity, s, actions) => {
    const granted = grantedAccess(identity, [scope(s)], 'kcr');
    expect(granted[0]?.actions).toEqual(actions);
  });

  const name = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/);
  const prefix = fc.constantFrom('', 'kcr', 'kcr/checkpoints', 'a', 'a-b', 'kcr.io');
  const actions = fc.subarray(['pull', 'push', 'delete', '*'], { minLength: 1 });

  it("never gives a puller anything but pull, nor any repository of another namespace, however the names overlap", () => {
    const overlapping = fc.tuple(name, name).chain(([a, b]) => fc.constantFrom<[string, string]>([a, b], [a, `${a}-${b}`], [`${a}-${b}`, a], [a, `${a}${b}`], [`${a}.${b}`, a], [a, a]));
    fc.assert(fc.property(prefix, overlapping, name, actions, (p, [ns, other], identity, wanted) => {
      const repository = repositoryFor({ prefix: p, namespace: other, identity });
      const granted = grantedAccess(puller(ns), [{ type: 'repository', name: repository, actions: wanted }], p);
      for (const g of granted) expect(g.actions).toEqual(['pull']);
      if (ns !== other) expect(granted).toEqual([]);
      else expect(granted.length).toBe(wanted.includes('pull') ? 1 : 0);
    }), { numRuns: 2000 });
  });
});
