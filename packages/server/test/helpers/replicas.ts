// Two replicas of one deployment for integration tests: two apps on one PostgreSQL schema
// (separate pools), one manual clock and one keys folder; with Redis, each has its own
// rate-limit connection under one key prefix. Each helper registers its own
// beforeAll/afterAll; the getter is valid inside tests.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { closeRateLimitRedis, openRateLimitRedis } from '../../src/throttle/redis-client.ts';
import { deleteUnder, openRedis, REDIS_URL } from '../throttle/redis.ts';
import { ManualClock } from '../../src/clock.ts';
import { createTestApp, tempDir, type TestApp } from './app.ts';
import { createTestDb, type TestDb } from './db.ts';

export interface RedisReplicas {
  a: TestApp;
  b: TestApp;
  /** A plain connection for the test's own look at the keys. */
  admin: Redis;
  testDb: TestDb;
}

export interface RedisReplicasOptions {
  /** The second replica gets a pool of its own and the first one's signing keys (tokens work on both). */
  separatePools?: boolean;
  setupTimeoutMs?: number;
}

export function useRedisReplicas(prefix: string, env: Record<string, string>, options: RedisReplicasOptions = {}): () => RedisReplicas {
  let replicas: RedisReplicas | undefined;
  let connections: Redis[] = [];
  let admin: Redis | undefined;
  let testDb: TestDb | undefined;
  const apps: TestApp[] = [];
  beforeAll(async () => {
    admin = openRedis();
    connections = [openRateLimitRedis(REDIS_URL), openRateLimitRedis(REDIS_URL)];
    await Promise.all(connections.map((r) => new Promise((resolve) => r.once('ready', resolve))));
    testDb = await createTestDb('postgres');
    const withPrefix = { ...env, REDIS_KEY_PREFIX: prefix };
    const a = await createTestApp({ db: testDb, env: withPrefix, redis: connections[0] });
    apps.push(a);
    const b = await createTestApp({
      db: options.separatePools ? { ...testDb, db: testDb.openAnother() } : testDb,
      env: withPrefix,
      redis: connections[1],
      clock: a.clock,
      ...(options.separatePools ? { keysDir: a.config.keysDir } : {}),
    });
    apps.push(b);
    replicas = { a, b, admin, testDb };
  }, options.setupTimeoutMs ?? 120_000);
  afterAll(async () => {
    for (const app of apps) await app.close();
    await testDb?.drop();
    await Promise.all(connections.map((r) => closeRateLimitRedis(r)));
    if (admin) {
      await deleteUnder(admin, prefix);
      await admin.quit();
    }
  });
  return () => {
    if (!replicas) throw new Error('useRedisReplicas: the replicas are not started (use inside a test)');
    return replicas;
  };
}

/** Two replicas on one PostgreSQL schema, no Redis: the memory denylist and throttle each. */
export function usePostgresReplicas(): () => { a: TestApp; b: TestApp; testDb: TestDb } {
  let replicas: { a: TestApp; b: TestApp; testDb: TestDb } | undefined;
  let testDb: TestDb | undefined;
  const apps: TestApp[] = [];
  beforeAll(async () => {
    testDb = await createTestDb('postgres');
    const clock = new ManualClock(Date.now());
    const keysDir = tempDir('tessera-keys-');
    const a = await createTestApp({ db: testDb, clock, keysDir });
    apps.push(a);
    const b = await createTestApp({ db: { ...testDb, db: testDb.openAnother() }, clock, keysDir });
    apps.push(b);
    replicas = { a, b, testDb };
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await testDb?.drop();
  });
  return () => {
    if (!replicas) throw new Error('usePostgresReplicas: the replicas are not started (use inside a test)');
    return replicas;
  };
}
