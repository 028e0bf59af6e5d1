// The AttemptStore contract on Redis (every replica), and how the Redis store keeps its keys.
import { afterAll, describe, expect, it } from 'vitest';
import { RedisAttemptStore } from '../../src/throttle/redis-attempt-store.ts';
import { attemptStoreContract, policy } from './attempt-store.contract.ts';
import { deleteUnder, keysUnder, openRedis, uniquePrefix } from './redis.ts';

const redis = openRedis();
afterAll(async () => {
  await redis.quit();
});

attemptStoreContract('redis', async () => {
  const prefix = uniquePrefix('attempts');
  const store = new RedisAttemptStore(redis, prefix);
  return {
    store,
    async close() {
      await store.close();
      await deleteUnder(redis, prefix);
    },
  };
});

describe('RedisAttemptStore storage', () => {
  it('stores only under its prefix, with an expiry', async () => {
    const prefix = uniquePrefix('attempts-ttl');
    const store = new RedisAttemptStore(redis, prefix);
    try {
      await store.attempt([{ key: 'k', policy }], Date.now());
      expect(await keysUnder(redis, prefix)).toEqual([`${prefix}k`]);
      const ttl = await redis.pttl(`${prefix}k`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(policy.memoryMs);
    } finally {
      await deleteUnder(redis, prefix);
    }
  });
});
