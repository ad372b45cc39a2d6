// The ioredis options that prove who kcr is to Redis: the password from the mounted Secret file
// and, for rediss://, the CA to check Redis' certificate against. Read once at start; after a
// password change Redis and then kcr's pods are restarted (README "Redis").
import { readFile } from 'node:fs/promises';
import type { RedisOptions } from 'ioredis';

export interface RedisAccess {
  /** KCR_REDIS_PASSWORD_FILE: the Secret kcr-redis, key password, mounted as a file. */
  passwordFile: string | undefined;
  /** KCR_REDIS_CA_FILE: PEM bundle for rediss://. */
  caFile: string | undefined;
}

export type ReadText = (path: string) => Promise<string>;

const readText: ReadText = (path) => readFile(path, 'utf8');

/** A file kcr needs to reach Redis is missing or unusable; says which setting and which Secret. */
export class RedisAccessError extends Error {
  override name = 'RedisAccessError';
}

export async function redisAccessOptions(access: RedisAccess, read: ReadText = readText): Promise<Pick<RedisOptions, 'password' | 'tls'>> {
  const out: Pick<RedisOptions, 'password' | 'tls'> = {};
  if (access.passwordFile !== undefined) {
    const raw = await readSetting(read, access.passwordFile, 'KCR_REDIS_PASSWORD_FILE', 'mount the Secret kcr-redis (key password) there');
    // Only the line ending an editor or `echo` adds: the same trimming as redis/start-redis.sh's $(cat …).
    const password = raw.replace(/\n+$/, '');
    if (password === '') throw new RedisAccessError(`KCR_REDIS_PASSWORD_FILE ${access.passwordFile} is empty: the Secret kcr-redis needs a key password`);
    out.password = password;
  }
  if (access.caFile !== undefined) {
    const ca = await readSetting(read, access.caFile, 'KCR_REDIS_CA_FILE', 'mount the PEM bundle of the CA that signed Redis\' certificate there');
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new RedisAccessError(`KCR_REDIS_CA_FILE ${access.caFile} holds no PEM certificate`);
    out.tls = { ca };
  }
  return out;
}

async function readSetting(read: ReadText, path: string, setting: string, fix: string): Promise<string> {
  try {
    return await read(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    throw new RedisAccessError(`${setting} ${path} cannot be read (${code}): ${fix}`, { cause: err });
  }
}
