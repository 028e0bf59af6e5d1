import type { Redis, RedisOptions } from 'ioredis';
import { closeRedis, openRedis, type RedisClient, type RedisTarget } from '@tessera/verifier/internal';

/**
 * The connection for rate-limit counters. It fails fast instead of queueing while Redis is
 * away (no offline queue, a command timeout): the limiters then fail open, so an outage
 * slows no login down and never turns into a 500.
 */
export function openRateLimitRedis(target: string | RedisOptions): Redis;
export function openRateLimitRedis(target: RedisTarget): RedisClient;
export function openRateLimitRedis(target: RedisTarget): RedisClient {
  // target: redisConnection(config.redis), a URL, Sentinel options or a cluster. openRedis
  // also silences 'error' events: outages are reported by the throttle when it is used.
  return openRedis(target, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1_000,
    connectionName: 'tessera-rate-limit',
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
}

export async function closeRateLimitRedis(redis: RedisClient): Promise<void> {
  await closeRedis(redis);
}
