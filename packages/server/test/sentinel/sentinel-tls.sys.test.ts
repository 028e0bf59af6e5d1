// Redis Sentinel over TLS (REDIS_TLS, REDIS_SENTINEL_TLS defaulting to it, REDIS_TLS_CA_FILE;
// the verifier's redisSentinel.tls / sentinelTls) against a real deployment whose data nodes
// and sentinels listen on TLS only (`port 0`), replicate and gossip over TLS, and present a
// certificate from a throw-away CA. The same start without REDIS_TLS must fail to reach
// Redis, so nothing here passes unless TLS is really used.
import fs from 'node:fs';
import { it } from 'vitest';
import { describeTesseraPair, expectLogoutReachesRedis, expectRedisNeverReached } from './tessera-pair.ts';

const options = {
  deployment: { tls: true },
  prefixName: 'sentinel-tls',
  configured: (deployment) => deployment.redisEnv(),
  unconfigured: (deployment) => deployment.redisEnv({ tls: false }),
} satisfies Parameters<typeof describeTesseraPair>[1];

describeTesseraPair('Redis Sentinel over TLS (TLS-only data nodes and sentinels, private CA)', options, (pair) => {
  it('with REDIS_TLS and the CA: a logout reaches the primary over TLS, and a verifier with the TLS options loads it', async () => {
    // sentinelTls follows tls.
    await expectLogoutReachesRedis(pair(), { tls: { ca: fs.readFileSync(pair().deployment.caFile!, 'utf8') } });
  });

  it('without REDIS_TLS (plain TCP to TLS-only ports) Redis is never reached', async () => {
    // And TLS with Node's root CAs only: the private CA's certificates are refused, never skipped.
    await expectRedisNeverReached(pair(), { tls: true });
  });
});
