// When is the restore index too old to restore from? Its informers' watches deliver every change;
// while one is disconnected the index misses what happened meanwhile (a source pod that came
// back, a Checkpoint marked bad or claimed). A short break is normal (a watch ends and
// reconnects, an API server restarts); a break longer than the bound makes the webhook not
// ready and every decision "unchanged" (reason stale-index) until the watch is back. Pure: the
// caller passes the states and `now`.

export interface FeedConnection {
  name: string;
  connected: boolean;
  /**
   * When it last connected or disconnected; undefined while it never connected (the initial
   * list is still missing: "not synced", a separate reason).
   */
  since: Date | undefined;
}

export interface StaleFeed {
  name: string;
  /** How long it has been disconnected at `now`. */
  disconnectedMs: number;
}

/** The feeds disconnected for longer than `boundMs` at `now`, in the order given. */
export function staleFeeds(now: Date, feeds: readonly FeedConnection[], boundMs: number): StaleFeed[] {
  const out: StaleFeed[] = [];
  for (const f of feeds) {
    if (f.connected || f.since === undefined) continue;
    const disconnectedMs = now.getTime() - f.since.getTime();
    if (disconnectedMs > boundMs) out.push({ name: f.name, disconnectedMs });
  }
  return out;
}
