// The Denylist contract on Redis (every replica); on memory: denylist.contract.test.ts.
import { afterAll } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { RedisDenylist } from '../../src/revocation/redis-denylist.ts';
import { denylistContract } from './denylist.contract.ts';
import { adminClient, deleteKeys, REDIS_URL, sleep, uniquePrefix } from './redis-kit.ts';

const admin = adminClient();
afterAll(async () => {
  await admin.quit();
});

denylistContract('redis', async () => {
  const prefix = uniquePrefix('contract');
  const denylist = new RedisDenylist({ redis: REDIS_URL, keyPrefix: prefix, clock: systemClock, writeTimeoutMs: 2_000 });
  await denylist.start();
  return {
    denylist,
    now: () => Date.now(),
    // Real time for Redis: long enough that the writes land before the entries expire.
    shortTtlMs: 1_000,
    async passUntil(ms) {
      while (Date.now() <= ms) await sleep(Math.max(1, ms + 1 - Date.now()));
    },
    async close() {
      await denylist.close();
      await deleteKeys(admin, prefix);
    },
  };
});
