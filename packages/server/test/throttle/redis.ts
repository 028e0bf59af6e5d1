// Real Redis for the throttle suites: a key prefix of their own, deleted afterwards (the
// server is shared with other suites, so never FLUSHALL).
import { Redis } from 'ioredis';
import { REDIS_URL } from '../revocation/redis-kit.ts';

// One definition of the test Redis for every suite (the whole REDIS_URL, database index included).
export { REDIS_URL, uniquePrefix } from '../revocation/redis-kit.ts';

export function openRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
}

/** Every key under `prefix`, e.g. to assert what the limiter stored. */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

export async function deleteUnder(redis: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(redis, prefix);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
}
