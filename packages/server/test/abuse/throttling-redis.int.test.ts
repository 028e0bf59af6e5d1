// Throttling shared by replicas through the real Redis: two apps on one database and one
// Redis behave as one server for every counter; an unreachable Redis fails open.
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { openRuntime } from '../../src/runtime.ts';
import { closeRateLimitRedis, openRateLimitRedis } from '../../src/throttle/redis-client.ts';
import { createTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { createTestDb, urlWithSchema } from '../helpers/db.ts';
import { expectProblem, PASSWORD, register } from '../helpers/flows.ts';
import { useRedisReplicas } from '../helpers/replicas.ts';
import { keysUnder, REDIS_URL, uniquePrefix } from '../throttle/redis.ts';

const WRONG = 'not the password at all';

describe('two replicas sharing Redis', () => {
  const prefix = uniquePrefix('throttle-replicas');
  let admin: Redis;
  let a: TestApp;
  let b: TestApp;
  const replicas = useRedisReplicas(prefix, {
    RATE_LIMIT_ENABLED: 'true',
    RATE_LIMIT_IP_PER_MINUTE: '6',
    RATE_LIMIT_REFRESH_IP_PER_MINUTE: '3',
    LOGIN_FAILURES_BEFORE_BACKOFF: '3',
  });
  beforeAll(() => {
    ({ a, b, admin } = replicas());
  });

  const login = (t: TestApp, email: string, password: string, remoteAddress: string) =>
    t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email, password }, remoteAddress });

  it('one per-IP budget across replicas', async () => {
    const ip = '198.51.100.10';
    const statuses: number[] = [];
    for (const t of [a, b, a, b, a, b, a, b]) {
      statuses.push((await t.fastify.inject({ method: 'POST', url: '/auth/register', payload: {}, remoteAddress: ip })).statusCode);
    }
    expect(statuses).toEqual([400, 400, 400, 400, 400, 400, 429, 429]);
  });

  it('one failed-refresh budget per address across replicas, with no address in a key', async () => {
    const ip = '198.51.100.40';
    const statuses: number[] = [];
    for (const t of [a, b, a, b]) {
      const res = await t.fastify.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: `rt_${'B'.repeat(43)}` }, remoteAddress: ip });
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    const keys = (await keysUnder(admin, prefix)).filter((k) => k.startsWith(`${prefix}refresh-failures:`));
    expect(keys).toHaveLength(1);
    expect(keys[0]).not.toContain(ip);
    expect(await admin.pttl(keys[0]!)).toBeGreaterThan(0);
  });

  it('one per-account back-off across replicas, cleared by a success on either', async () => {
    const { email } = await register(a.fastify);
    const ip = '198.51.100.20';
    expect((await login(a, email, WRONG, ip)).statusCode).toBe(401);
    expect((await login(b, email, WRONG, ip)).statusCode).toBe(401);
    expect((await login(a, email, WRONG, ip)).statusCode).toBe(401);
    const limited = await login(b, email, PASSWORD, ip);
    expectProblem(limited, 429, 'rate_limited');
    expect(limited.headers['retry-after']).toBe('1');
    a.clock.advance(1_000);
    expect((await login(b, email, PASSWORD, ip)).statusCode).toBe(200);
    expect((await login(a, email, WRONG, ip)).statusCode).toBe(401);
  });

  it('keeps its counters under REDIS_KEY_PREFIX, with no email or address in a key', async () => {
    const { email } = await register(a.fastify, undefined);
    await login(a, email, WRONG, '198.51.100.30');
    const keys = await keysUnder(admin, prefix);
    expect(keys.some((k) => k.startsWith(`${prefix}throttle:login:`))).toBe(true);
    expect(keys.some((k) => k.startsWith(`${prefix}ratelimit:`))).toBe(true);
    const throttleKeys = keys.filter((k) => k.includes('throttle:'));
    expect(throttleKeys.join('\n')).not.toContain(email.split('@')[0]);
    expect(throttleKeys.join('\n')).not.toContain('198.51.100.30');
    for (const key of keys) expect(await admin.pttl(key)).toBeGreaterThan(0);
  });
});

describe('Redis unreachable', () => {
  let redis: Redis;
  let t: TestApp;
  beforeAll(async () => {
    // Nothing listens on port 1: every command fails at once (no offline queue).
    redis = openRateLimitRedis('redis://127.0.0.1:1');
    t = await createTestApp({ db: 'pglite', env: { RATE_LIMIT_ENABLED: 'true', LOGIN_FAILURES_BEFORE_BACKOFF: '1' }, redis });
  });
  afterAll(async () => {
    await t?.close();
    if (redis) await closeRateLimitRedis(redis);
  });

  it('fails open: logins are answered normally (never 500), and the outage is logged once', async () => {
    const { email } = await register(t.fastify);
    for (let i = 0; i < 3; i++) expectProblem(await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email, password: WRONG } }), 401, 'invalid_credentials');
    const ok = await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email, password: PASSWORD } });
    expect(ok.statusCode).toBe(200);
    expect(t.logs().filter((l) => l.event === 'throttle.store_failed')).toHaveLength(1);
  });
});

describe('runtime', () => {
  it('opens a rate-limit connection with REDIS_URL and closes it on close()', async () => {
    const logger = createLogger('silent');
    const db = await createTestDb('postgres');
    const base = { KEYS_DIR: tempDir(), DATABASE_URL: urlWithSchema(db.schema!), REDIS_URL, REDIS_KEY_PREFIX: uniquePrefix('throttle-runtime') };
    const runtime = await openRuntime(configFrom(base), logger);
    try {
      expect(runtime.redis).toBeDefined();
      // No offline queue (commands fail fast and the limiters fail open): wait for the connection.
      if (runtime.redis!.status !== 'ready') await once(runtime.redis!, 'ready');
      expect(await runtime.redis!.ping()).toBe('PONG');
    } finally {
      await runtime.close();
    }
    // quit() resolves on Redis' OK; the socket closes just after.
    if (runtime.redis!.status !== 'end') await once(runtime.redis!, 'end');
    expect(runtime.redis!.status).toBe('end');

    const without = await openRuntime(configFrom({ ...base, RATE_LIMIT_ENABLED: 'false' }), logger);
    expect(without.redis).toBeUndefined();
    await without.close();
    await db.drop();
  });
});
