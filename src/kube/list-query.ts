// The query strings of a paginated list and of a watch, and the bound after which a silent watch
// is restarted. Pure: the informer passes what it tracked.

export interface Selectors {
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
}

function withSelectors(params: URLSearchParams, s: Selectors): URLSearchParams {
  if (s.labelSelector !== undefined) params.set('labelSelector', s.labelSelector);
  if (s.fieldSelector !== undefined) params.set('fieldSelector', s.fieldSelector);
  return params;
}

/**
 * One page of a list. No resourceVersion: a consistent read, paginated by the API server.
 * (resourceVersion=0 would be served from the watch cache, where older API servers ignore
 * `limit` and answer the whole list in one piece: the very peak this avoids.)
 */
export function listPageUrl(path: string, s: Selectors, limit: number, continueToken: string | undefined): string {
  const params = withSelectors(new URLSearchParams({ limit: String(limit) }), s);
  if (continueToken !== undefined) params.set('continue', continueToken);
  return `${path}?${params.toString()}`;
}

export function watchUrl(path: string, s: Selectors, resourceVersion: string, timeoutSeconds: number): string {
  const params = withSelectors(new URLSearchParams({
    watch: 'true',
    resourceVersion,
    allowWatchBookmarks: 'true',
    timeoutSeconds: String(timeoutSeconds),
  }), s);
  return `${path}?${params.toString()}`;
}

/** Server-side watch timeout: 4 to 5 minutes, spread (`random` in [0,1)) so informers do not reconnect in lockstep. */
export function watchTimeoutSeconds(random: number): number {
  return 240 + Math.floor(random * 60);
}

/** A watch with no event and no bookmark for this long is dead (a cut connection without a FIN): restarted. */
export function silentBoundMs(timeoutSeconds: number, override: number | undefined): number {
  // Past the server's own timeout (which ends a healthy quiet watch first), with a margin.
  return override ?? (timeoutSeconds + 30) * 1000;
}
