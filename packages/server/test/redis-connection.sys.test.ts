// A password full of URL characters, against a real redis-server process of its own.
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { redisConnection } from '../src/redis-connection.ts';
import { closeRateLimitRedis, openRateLimitRedis } from '../src/throttle/redis-client.ts';
import { redisServer, skipUnless } from '../../../test/lib/requirements.ts';
import { tempDir } from './helpers/app.ts';
import { REDIS_SERVER_BIN, startRedisNode } from './sentinel/sentinel-kit.ts';

const keys = tempDir();
const load = (env: Record<string, string>) => loadConfig({ KEYS_DIR: keys, ...env });

skipUnless(redisServer)('REDIS_PASSWORD against a real redis-server', () => {
  it('logs in with a password full of URL characters', async () => {
    const dir = tempDir('tessera-redis-auth-');
    const password = 'p%41@ss:w/rd#100%';
    const node = await startRedisNode(REDIS_SERVER_BIN, dir, 'auth', ['save ""', 'appendonly no', `requirepass "${password}"`]);
    try {
      const config = load({ REDIS_URL: `redis://127.0.0.1:${node.port}/3`, REDIS_PASSWORD: password });
      const redis = openRateLimitRedis(redisConnection(config.redis!));
      try {
        await new Promise((resolve) => redis.once('ready', resolve));
        expect(await redis.ping()).toBe('PONG');
        expect(((await redis.client('INFO')) as string)).toMatch(/ db=3 /);
      } finally {
        await closeRateLimitRedis(redis);
      }
    } finally {
      await node.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
