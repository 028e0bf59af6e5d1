// Redis ACL users under Sentinel (REDIS_USERNAME, REDIS_SENTINEL_USERNAME; the verifier's
// redisSentinel.username / sentinelUsername) against a real deployment whose `default` user
// is off on every node, as managed and hardened Redis runs. The same start without the
// usernames (passwords only: AUTH as `default`) must fail to reach Redis, so nothing here
// passes unless the usernames are really used.
import { it } from 'vitest';
import { describeTesseraPair, expectLogoutReachesRedis, expectRedisNeverReached } from './tessera-pair.ts';

const options = {
  deployment: { acl: true },
  prefixName: 'sentinel-acl',
  configured: (deployment) => deployment.redisEnv(),
  unconfigured: (deployment) => deployment.redisEnv({ usernames: false }),
} satisfies Parameters<typeof describeTesseraPair>[1];

describeTesseraPair('Redis ACL users under Sentinel (default user off everywhere)', options, (pair) => {
  it('logs in as the ACL users: a logout reaches the primary, and a verifier loads it', async () => {
    const { username, sentinelUsername } = pair().deployment;
    await expectLogoutReachesRedis(pair(), { username: username!, sentinelUsername: sentinelUsername! });
  });

  it('without the usernames (AUTH as the disabled default user) Redis is never reached', async () => {
    await expectRedisNeverReached(pair(), {});
  });
});
