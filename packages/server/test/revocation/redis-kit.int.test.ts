// The Redis test kit honours the whole REDIS_URL: a suite run against database 6 must use
// database 6 through the outage proxy too, not leak its keys into database 0.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { REDIS_URL, RedisProxy, uniquePrefix } from './redis-kit.ts';

describe('RedisProxy', () => {
  it('keeps the database index of the URL it proxies', async () => {
    const target = new URL(REDIS_URL);
    target.pathname = '/6';
    const proxy = new RedisProxy(target);
    await proxy.start();
    expect(new URL(proxy.url).pathname).toBe('/6');
    const key = `${uniquePrefix('kit')}db-index`;
    const viaProxy = new Redis(proxy.url, { maxRetriesPerRequest: 2 });
    const direct = new Redis(target.href, { maxRetriesPerRequest: 2 });
    try {
      await viaProxy.set(key, 'through the proxy', 'PX', 60_000);
      expect(await direct.get(key)).toBe('through the proxy');
    } finally {
      await direct.del(key);
      viaProxy.disconnect();
      direct.disconnect();
      await proxy.close();
    }
  });
});
