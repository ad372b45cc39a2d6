// What a token may do: the requested scopes cut down to what the identity is allowed. A
// namespace's puller gets `pull` on repositories below <prefix>/<its namespace>/ and nothing
// else (no push, no delete, no catalog); kcr's writer gets pull, push and delete below
// <prefix>/ and the catalog. Anything else is dropped, never refused: the registry then
// answers the request itself with 401/403, as the token spec has it. Pure.
import { isNamespaceRepository, underPrefix } from '../rules/checkpoint-image-ref.ts';
import type { RegistryIdentity } from './registry-identity.ts';
import type { ScopeAccess } from './registry-scope.ts';

const WRITER_ACTIONS = new Set(['pull', 'push', 'delete']);

export function grantedAccess(identity: RegistryIdentity | undefined, requested: readonly ScopeAccess[], prefix: string): ScopeAccess[] {
  const granted: ScopeAccess[] = [];
  for (const want of requested) {
    let actions: string[] = [];
    if (identity?.kind === 'writer') {
      if (want.type === 'repository' && underPrefix(want.name, prefix)) actions = want.actions.filter((a) => WRITER_ACTIONS.has(a));
      else if (want.type === 'registry' && want.name === 'catalog') actions = want.actions.filter((a) => a === '*');
    } else if (identity?.kind === 'namespace-puller') {
      if (want.type === 'repository' && isNamespaceRepository(want.name, prefix, identity.namespace)) actions = want.actions.filter((a) => a === 'pull');
    }
    if (actions.length > 0) granted.push({ type: want.type, name: want.name, actions });
  }
  return granted;
}
