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

/**
 * A client for `url` (redis://[user@]host:port[/db], rediss:// for TLS); the password and the
 * TLS CA come in `extra` (redisAccessOptions). An ACL user named in the URL is passed as an
 * option, since ioredis lets URL credentials win over options (an empty password among them).
 */
export function createRedisConnection(url: string, role: ConnectionRole, extra: RedisOptions = {}): Redis {
  const { server, username } = splitUser(url);
  const client = new Redis(server, { ...(username !== undefined ? { username } : {}), ...redisOptionsFor(role, extra) });
  // Errors are surfaced to callers through rejected commands; an unhandled 'error' event
  // would crash the process while Redis is merely restarting. The last one is kept to explain
  // why a command failed.
  client.on('error', (err: Error) => lastErrors.set(client, err));
  client.on('ready', () => lastErrors.delete(client));
  return client;
}

function splitUser(url: string): { server: string; username: string | undefined } {
  if (!/^rediss?:\/\/[^/]*@/.test(url)) return { server: url, username: undefined };
  const u = new URL(url);
  const username = decodeURIComponent(u.username);
  u.username = '';
  u.password = '';
  return { server: u.toString(), username: username === '' ? undefined : username };
}

/** Redis could not be reached; `cause` is the connection error (e.g. ECONNREFUSED). */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/** Redis was reached but refused kcr's credentials (wrong password, or none given). */
export class RedisAuthError extends RedisUnavailableError {
  override name = 'RedisAuthError';
}

/**
 * What to do about an authentication failure, in words an operator acts on; undefined for any
 * other error. WRONGPASS: a password that is not Redis' requirepass; NOAUTH: Redis wants one
 * and kcr has none.
 */
export function redisAuthProblem(err: unknown): string | undefined {
  const message = err instanceof Error ? err.message : String(err);
  if (/WRONGPASS|invalid password|invalid username-password/i.test(message)) {
    return 'Redis refused kcr\'s password (WRONGPASS): KCR_REDIS_PASSWORD_FILE must hold the password Redis requires (the Secret kcr-redis, key password; restart Redis and kcr after changing it)';
  }
  if (/NOAUTH/.test(message)) {
    return 'Redis requires a password and kcr sent none (NOAUTH): set KCR_REDIS_PASSWORD_FILE to the mounted Secret kcr-redis, key password';
  }
  return undefined;
}

/** What to do when Redis' TLS certificate is not trusted (or the server speaks no TLS); undefined otherwise. */
export function redisTlsProblem(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if ((typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(code)) || /certificate|wrong version number/i.test(message)) {
    return `its TLS certificate is not trusted or TLS failed (${typeof code === 'string' ? code : message}): set KCR_REDIS_CA_FILE to the PEM of the CA that signed Redis' certificate, and use rediss:// only for a Redis that serves TLS`;
  }
  return undefined;
}

/** host:port of the client, for messages (never the password). */
export function redisAddress(client: Redis): string {
  return `${client.options.host ?? '?'}:${client.options.port ?? '?'}`;
}

/** One sentence on why `client` cannot be used: an authentication problem, or the connection error. */
export function describeRedisFailure(client: Redis, err: unknown): { message: string; auth: boolean } {
  const auth = redisAuthProblem(err);
  const where = redisAddress(client);
  if (auth !== undefined) return { message: `Redis at ${where}: ${auth}`, auth: true };
  const tls = redisTlsProblem(err);
  if (tls !== undefined) return { message: `Redis at ${where}: ${tls}`, auth: false };
  const why = err instanceof Error ? err.message : String(err);
  return { message: `Redis at ${where} is unreachable (${client.status}): ${why}`, auth: false };
}

/**
 * Turns a command failure on a disconnected producer ("Stream isn't writeable and
 * enableOfflineQueue options is false") into an error that says which Redis and why.
 */
export function explainRedisError(client: Redis, err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  if (client.status === 'ready') return e;
  const cause = lastErrors.get(client) ?? e;
  const { message, auth } = describeRedisFailure(client, cause);
  return auth ? new RedisAuthError(message, { cause }) : new RedisUnavailableError(message, { cause });
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
      const auth = lastError === undefined ? undefined : redisAuthProblem(lastError);
      if (auth !== undefined) {
        reject(new RedisAuthError(`Redis at ${redisAddress(client)}: ${auth}`, { cause: lastError }));
        return;
      }
      const tls = lastError === undefined ? undefined : redisTlsProblem(lastError);
      if (tls !== undefined) {
        reject(new RedisUnavailableError(`Redis not reachable after ${timeoutMs} ms: ${tls}`, { cause: lastError }));
        return;
      }
      const why = lastError ? `: ${lastError.message}` : '';
      reject(new RedisUnavailableError(`Redis not reachable after ${timeoutMs} ms${why}`, { cause: lastError }));
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
