// The Redis-backed contract suites (Denylist, AttemptStore) on a real Redis Cluster: the same
// answers as on one server (denylist.contract.int.test.ts, attempt-store.contract.int.test.ts);
// and the start-up check that tells a cluster given as one server, and the other way round.
// The cluster is this file's own (six nodes on loopback), started once and stopped after.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { checkRedisAtStart } from '../../src/redis-start-check.ts';
import { StartupError } from '../../src/startup-error.ts';
import { captureLogger, tempDir } from '../helpers/app.ts';
import { redisCluster, skipUnless } from '../../../../test/lib/requirements.ts';
import { systemClock } from '../../src/clock.ts';
import { RedisDenylist } from '../../src/revocation/redis-denylist.ts';
import { RedisAttemptStore } from '../../src/throttle/redis-attempt-store.ts';
import { closeRateLimitRedis, openRateLimitRedis } from '../../src/throttle/redis-client.ts';
import { denylistContract } from '../revocation/denylist.contract.ts';
import { REDIS_URL, sleep, uniquePrefix } from '../revocation/redis-kit.ts';
import { attemptStoreContract } from '../throttle/attempt-store.contract.ts';
import type { RedisClient } from '@tessera/verifier/internal';
import { startRedisCluster, type RedisClusterDeployment } from './redis-cluster-kit.ts';

skipUnless(redisCluster)('Redis-backed contracts on a Redis Cluster', () => {
  let deployment: RedisClusterDeployment;
  let counters: RedisClient;
  const target = () => ({ cluster: { nodes: deployment.addresses.slice(0, 3), password: deployment.password } });

  beforeAll(async () => {
    deployment = await startRedisCluster();
    counters = openRateLimitRedis(target());
  }, 60_000);

  afterAll(async () => {
    if (counters) await closeRateLimitRedis(counters);
    await deployment?.stop();
  });

  denylistContract('redis cluster', async () => {
    const denylist = new RedisDenylist({ redis: target(), keyPrefix: uniquePrefix('cluster-contract'), clock: systemClock, writeTimeoutMs: 2_000 });
    await denylist.start();
    return {
      denylist,
      now: () => Date.now(),
      shortTtlMs: 1_000,
      async passUntil(ms) {
        while (Date.now() <= ms) await sleep(Math.max(1, ms + 1 - Date.now()));
      },
      // The cluster is thrown away with its keys.
      close: () => denylist.close(),
    };
  });

  // The store takes its keys as given: the login throttle puts one hash tag per account in
  // them (login-throttle.ts). The contract's own keys ('a', 'b', …) get one here, through the
  // prefix, so its multi-key attempts land in one slot as the throttle's do.
  attemptStoreContract('redis cluster', async () => {
    const store = new RedisAttemptStore(counters, `${uniquePrefix('cluster-attempts')}{contract}:`);
    return { store, close: () => store.close() };
  });

  it('refuses to start on a cluster node given as REDIS_URL, and on one server given as REDIS_CLUSTER_NODES', async () => {
    const keysDir = tempDir('tessera-keys-');
    const load = (env: Record<string, string>) => loadConfig({ KEYS_DIR: keysDir, ...env });
    const node = deployment.addresses[0]!;
    const asOneServer = load({ REDIS_URL: `redis://127.0.0.1:${node.port}`, REDIS_PASSWORD: deployment.password });
    const refused = await checkRedisAtStart(asOneServer.redis!, captureLogger().logger, 5_000).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(StartupError);
    expect(String(refused)).toMatch(/REDIS_URL .*Redis Cluster node; list the cluster in REDIS_CLUSTER_NODES/);
    expect(String(refused)).not.toContain(deployment.password);
    const oneServer = new URL(REDIS_URL);
    const asCluster = load({ REDIS_CLUSTER_NODES: `${oneServer.hostname}:${oneServer.port || 6379}` });
    const wrong = await checkRedisAtStart(asCluster.redis!, captureLogger().logger, 5_000).catch((err: unknown) => err);
    expect(wrong).toBeInstanceOf(StartupError);
    expect(String(wrong)).toMatch(/REDIS_CLUSTER_NODES .*not a cluster/);
    // The cluster itself, as REDIS_CLUSTER_NODES: starts.
    await checkRedisAtStart(load({ REDIS_CLUSTER_NODES: `127.0.0.1:${node.port}`, REDIS_PASSWORD: deployment.password }).redis!, captureLogger().logger, 5_000);
  }, 30_000);
});
