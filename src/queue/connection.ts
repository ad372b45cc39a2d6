// ioredis connections for BullMQ. BullMQ cannot load ioredis by itself under native ESM, so kcr
// always hands it a constructed client. Keys are namespaced with BullMQ's `prefix` option (never
// ioredis keyPrefix, which BullMQ's Lua scripts do not honour).
import { Redis, type RedisOptions } from 'ioredis';

export const DEFAULT_QUEUE_PREFIX = 'kcr';

/**
 * worker: blocking commands, reconnects forever, queues commands while reconnecting
 *   (BullMQ requires maxRetriesPerRequest: null).
 * producer: used on request paths, fails fast while Redis is unreachable instead of buffering.
 */
export type ConnectionRole = 'worker' | 'producer';

export function redisOptionsFor(role: ConnectionRole, extra: RedisOptions = {}): RedisOptions {
  const common: RedisOptions = {
    lazyConnect: false,
    connectionName: `kcr-${role}`,
    // Reconnect with a capped backoff; never give up (Redis restarts are normal).
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 8), 5000),
  };
  if (role === 'worker') return { ...common, maxRetriesPerRequest: null, ...extra, keyPrefix: undefined };
  return {
    ...common,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
    ...extra,
    keyPrefix: undefined,
  };
}

const lastErrors = new WeakMap<Redis, Error>();

/** A client for `url` (redis://[:password@]host:port[/db], rediss:// for TLS). */
export function createRedisConnection(url: string, role: ConnectionRole, extra: RedisOptions = {}): Redis {
  const client = new Redis(url, redisOptionsFor(role, extra));
  // Errors are surfaced to callers through rejected commands; an unhandled 'error' event
  // would crash the process while Redis is merely restarting. The last one is kept to explain
  // why a command failed.
  client.on('error', (err: Error) => lastErrors.set(client, err));
  client.on('ready', () => lastErrors.delete(client));
  return client;
}

/** Redis could not be reached; `cause` is the connection error (e.g. ECONNREFUSED). */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/**
 * Turns a command failure on a disconnected producer ("Stream isn't writeable and
 * enableOfflineQueue options is false") into an error that says which Redis and why.
 */
export function explainRedisError(client: Redis, err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  if (client.status === 'ready') return e;
  const why = lastErrors.get(client);
  const where = `${client.options.host ?? '?'}:${client.options.port ?? '?'}`;
  return new RedisUnavailableError(`Redis at ${where} is unreachable (${client.status}): ${why?.message ?? e.message}`, {
    cause: why ?? e,
  });
}

/** Resolves when the client is ready, rejects with the connection error (e.g. ECONNREFUSED) after `timeoutMs`. */
export async function waitForReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    let lastError: Error | undefined;
    const onError = (err: Error) => {
      lastError = err;
    };
    const onReady = () => {
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      const why = lastError ? `: ${lastError.message}` : '';
      reject(new Error(`Redis not reachable after ${timeoutMs} ms${why}`, { cause: lastError }));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      client.off('error', onError);
      client.off('ready', onReady);
    };
    client.on('error', onError);
    client.once('ready', onReady);
  });
}
