// The back-off on client credentials (admin, introspection/revocation, feed) under parallel
// load: a burst of wrong secrets from one address gets at most LOGIN_FAILURES_BEFORE_BACKOFF
// of them answered (401), whatever the interleaving, and one budget covers an
// INTROSPECTION_CLIENTS secret whether it is tried on /oauth/* or on the feed. The clock is
// manual and never advances during a burst, so the first window cannot end mid-test.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { expectProblem } from '../helpers/flows.ts';
import { ADMIN, basic, BUDGET, clientEnv, RESOURCE, tally } from './client-kit.ts';

type Realm = 'admin' | 'introspect' | 'revoke' | 'feed';

/** Every test sends from an address of its own: budgets are per address, so tests share one app. */
let lastOctet = 0;
const newAddress = () => `198.51.100.${++lastOctet}`;

function request(t: TestApp, realm: Realm, headers: Record<string, string>, remoteAddress: string): Promise<LightMyRequestResponse> {
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  switch (realm) {
    case 'admin':
      return t.fastify.inject({ method: 'GET', url: '/admin/users', headers, remoteAddress });
    case 'introspect':
      return t.fastify.inject({ method: 'POST', url: '/oauth/introspect', headers: { ...headers, ...form }, payload: 'token=abc', remoteAddress });
    case 'revoke':
      return t.fastify.inject({ method: 'POST', url: '/oauth/revoke', headers: { ...headers, ...form }, payload: 'token=abc', remoteAddress });
    case 'feed':
      return t.fastify.inject({ method: 'GET', url: '/revocations', headers, remoteAddress });
  }
}
const clientOf = (realm: Realm) => (realm === 'admin' ? ADMIN : RESOURCE);

describe('client credential back-off under parallel load', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ db: 'pglite', env: clientEnv });
  }, 180_000);
  afterAll(() => t?.close());

  it.each<Realm>(['admin', 'introspect', 'revoke', 'feed'])('%s: of 200 parallel wrong secrets from one address at most the budget are compared', async (realm) => {
    const app = t;
    const ip = newAddress();
    const client = clientOf(realm);
    const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => request(app, realm, basic(client.id, `guess-${i}`), ip)));
    const counts = tally(responses);
    console.log(`${realm}: 200 parallel wrong secrets: ${counts.compared} compared (401), ${counts.refused} refused (429)`);
    expect(counts).toEqual({ compared: BUDGET, refused: 200 - BUDGET, other: 0 });
    // Every refusal is a plain rate_limited problem (slow_down in OAuth's vocabulary), never a hint about the secret.
    const refusal = responses.find((r) => r.statusCode === 429)!;
    if (realm === 'introspect' || realm === 'revoke') expect(refusal.json()).toMatchObject({ error: 'slow_down' });
    else expectProblem(refusal, 429, 'rate_limited');
  });

  it('a right secret sent in the same burst is refused like the rest once the budget is spent', async () => {
    const app = t;
    const ip = newAddress();
    for (let i = 0; i < BUDGET - 1; i++) expectProblem(await request(app, 'admin', basic(ADMIN.id, `early-${i}`), ip), 401, 'invalid_client');
    // One guess left: of 50 wrong and 1 right in parallel, exactly one is answered.
    const burst = [...Array.from({ length: 50 }, (_, i) => basic(ADMIN.id, `guess-${i}`)), basic(ADMIN.id, ADMIN.secret)];
    const responses = await Promise.all(burst.map((h) => request(app, 'admin', h, ip)));
    const answered = responses.filter((r) => r.statusCode !== 429);
    expect(answered).toHaveLength(1);
  });

  it('successes never use the budget, even in parallel (a tool may send many requests at once)', async () => {
    const app = t;
    const ip = newAddress();
    for (const realm of ['admin', 'introspect', 'feed'] as const) {
      const client = clientOf(realm);
      const responses = await Promise.all(Array.from({ length: 50 }, () => request(app, realm, basic(client.id, client.secret), ip)));
      expect(responses.map((r) => r.statusCode)).toEqual(Array.from({ length: 50 }, () => 200));
    }
    // And a burst of successes left the whole budget to failures.
    for (let i = 0; i < BUDGET; i++) expectProblem(await request(app, 'admin', basic(ADMIN.id, `guess-${i}`), ip), 401, 'invalid_client');
    expectProblem(await request(app, 'admin', basic(ADMIN.id, 'one-more'), ip), 429, 'rate_limited');
  });

  it('a right secret during the back-off gets 429 like any other; after the window it is let in, and the failures are not forgotten', async () => {
    const ip = newAddress();
    for (let i = 0; i < BUDGET; i++) expectProblem(await request(t, 'admin', basic(ADMIN.id, `guess-${i}`), ip), 401, 'invalid_client');
    expectProblem(await request(t, 'admin', basic(ADMIN.id, ADMIN.secret), ip), 429, 'rate_limited');
    expectProblem(await request(t, 'admin', {}, ip), 429, 'rate_limited');
    t.clock.advance(1_001);
    expect((await request(t, 'admin', basic(ADMIN.id, ADMIN.secret), ip)).statusCode).toBe(200);
    // The success took back only itself: the next failure opens the second (2 s) window at once.
    expectProblem(await request(t, 'admin', basic(ADMIN.id, 'after-window'), ip), 401, 'invalid_client');
    const blocked = expectProblem(await request(t, 'admin', basic(ADMIN.id, ADMIN.secret), ip), 429, 'rate_limited');
    expect((blocked as unknown as { retry_after: number }).retry_after).toBe(2);
  });

  it('one budget per INTROSPECTION_CLIENTS secret: /oauth/* and the feed share it; the admin secrets keep their own', async () => {
    const ip = newAddress();
    for (let i = 0; i < 2; i++) expect((await request(t, 'introspect', basic(RESOURCE.id, `i-${i}`), ip)).statusCode).toBe(401);
    for (let i = 0; i < 2; i++) expect((await request(t, 'revoke', basic(RESOURCE.id, `r-${i}`), ip)).statusCode).toBe(401);
    expectProblem(await request(t, 'feed', basic(RESOURCE.id, 'f-0'), ip), 401, 'invalid_client');
    // Five failures over three routes: the budget is spent on every one of them.
    expectProblem(await request(t, 'feed', basic(RESOURCE.id, RESOURCE.secret), ip), 429, 'rate_limited');
    expect((await request(t, 'introspect', basic(RESOURCE.id, RESOURCE.secret), ip)).statusCode).toBe(429);
    expect((await request(t, 'revoke', basic(RESOURCE.id, RESOURCE.secret), ip)).statusCode).toBe(429);
    // A different list of secrets, a different budget.
    expect((await request(t, 'admin', basic(ADMIN.id, ADMIN.secret), ip)).statusCode).toBe(200);
  });

  it('another address keeps its own budget: an attacker elsewhere cannot lock the client out', async () => {
    const app = t;
    const ip = newAddress();
    const from = (remoteAddress: string, headers: Record<string, string>) => app.fastify.inject({ method: 'GET', url: '/admin/users', headers, remoteAddress });
    await Promise.all(Array.from({ length: 50 }, (_, i) => from(ip, basic(ADMIN.id, `guess-${i}`))));
    expect((await from(ip, basic(ADMIN.id, ADMIN.secret))).statusCode).toBe(429);
    expect((await from(newAddress(), basic(ADMIN.id, ADMIN.secret))).statusCode).toBe(200);
  });
});
