// Registry token scopes (distribution's token spec): `repository:<name>:<action,action>` or
// `registry:catalog:*`. The name may itself hold ':' only for a registry host with a port,
// which repository scopes never carry, so the type is before the first ':' and the actions
// after the last. Pure.

export interface ScopeAccess {
  type: string;
  name: string;
  actions: string[];
}

export function parseScope(scope: string): ScopeAccess | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first + 1 || last === scope.length - 1) return undefined;
  const actions = scope.slice(last + 1).split(',').map((a) => a.trim()).filter((a) => a !== '');
  if (actions.length === 0) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: [...new Set(actions)] };
}

/** Every scope of a token request: repeated `scope` parameters, each may hold several space-separated scopes. */
export function parseScopes(values: readonly string[]): ScopeAccess[] {
  return values.flatMap((v) => v.split(' ')).filter((s) => s !== '').map(parseScope).filter((s): s is ScopeAccess => s !== undefined);
}
