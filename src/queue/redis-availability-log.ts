// Logs a Redis connection going away and coming back once per change (ioredis retries every few
// seconds and emits an error each time), with where and why in words: a wrong or missing
// password is named as such, never shown.
import type { Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import { describeRedisFailure, redisAddress } from './connection.ts';

export function logRedisAvailability(client: Redis, role: string, logger: Logger): void {
  let down = false;
  const redis = redisAddress(client);
  client.on('error', (err: Error & { code?: string }) => {
    if (down) return;
    down = true;
    const { message, auth } = describeRedisFailure(client, err);
    logger.error({ redis, role, code: err.code, auth }, message);
  });
  client.on('ready', () => {
    if (down) logger.info({ redis, role }, `Redis at ${redis} is reachable again`);
    down = false;
  });
}
