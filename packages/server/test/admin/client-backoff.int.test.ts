// The client-credential back-off across two replicas sharing Redis (and one database): a
// burst of wrong secrets from one address, spread over both, gets at most
// LOGIN_FAILURES_BEFORE_BACKOFF answers in all, because the decision and the count are one
// Lua step in Redis; and an INTROSPECTION_CLIENTS secret spends one budget on /oauth/* and
// the feed, whichever replica serves them. The clock is shared and manual: no window ends
// mid-burst, however slow the machine.
import { beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.ts';
import { useRedisReplicas } from '../helpers/replicas.ts';
import { uniquePrefix } from '../throttle/redis.ts';
import { ADMIN, basic, BUDGET, clientEnv, RESOURCE, tally } from './client-kit.ts';

describe('client credential back-off on two replicas sharing Redis', () => {
  const prefix = uniquePrefix('client-backoff');
  let a: TestApp;
  let b: TestApp;
  const replicas = useRedisReplicas(prefix, clientEnv, { setupTimeoutMs: 180_000 });
  beforeAll(() => {
    ({ a, b } = replicas());
  });

  it('of 200 parallel wrong admin secrets from one address over both replicas, at most the budget are compared', async () => {
    const remoteAddress = '203.0.113.50';
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).fastify.inject({ method: 'GET', url: '/admin/users', headers: basic(ADMIN.id, `guess-${i}`), remoteAddress })),
    );
    const counts = tally(responses);
    console.log(`two replicas, Redis: 200 parallel wrong admin secrets: ${counts.compared} compared (401), ${counts.refused} refused (429)`);
    expect(counts).toEqual({ compared: BUDGET, refused: 200 - BUDGET, other: 0 });
    // The right secret is refused too while the window lasts, on either replica.
    for (const t of [a, b]) expect((await t.fastify.inject({ method: 'GET', url: '/admin/users', headers: basic(ADMIN.id, ADMIN.secret), remoteAddress })).statusCode).toBe(429);
  });

  it('of 200 parallel wrong INTROSPECTION_CLIENTS secrets on /oauth/introspect and the feed, over both replicas, at most the budget are compared', async () => {
    const remoteAddress = '203.0.113.51';
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const t = i % 2 ? a : b;
        const headers = basic(RESOURCE.id, `guess-${i}`);
        return i % 4 < 2
          ? t.fastify.inject({ method: 'GET', url: '/revocations', headers, remoteAddress })
          : t.fastify.inject({ method: 'POST', url: '/oauth/introspect', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'token=abc', remoteAddress });
      }),
    );
    const counts = tally(responses);
    console.log(`two replicas, Redis: 200 parallel wrong introspection secrets (oauth + feed): ${counts.compared} compared (401), ${counts.refused} refused (429)`);
    expect(counts).toEqual({ compared: BUDGET, refused: 200 - BUDGET, other: 0 });
  });

  it('successes in parallel over both replicas never use the budget', async () => {
    const remoteAddress = '203.0.113.52';
    const responses = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).fastify.inject({ method: 'GET', url: '/revocations', headers: basic(RESOURCE.id, RESOURCE.secret), remoteAddress })),
    );
    expect(responses.filter((r) => r.statusCode !== 200)).toEqual([]);
    for (let i = 0; i < BUDGET; i++) expect((await a.fastify.inject({ method: 'GET', url: '/revocations', headers: basic(RESOURCE.id, `g-${i}`), remoteAddress })).statusCode).toBe(401);
    expect((await b.fastify.inject({ method: 'GET', url: '/revocations', headers: basic(RESOURCE.id, RESOURCE.secret), remoteAddress })).statusCode).toBe(429);
  });
});
