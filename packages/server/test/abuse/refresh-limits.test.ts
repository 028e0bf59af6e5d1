// Refresh is limited per session (a client stuck in a loop) and, per client address, only
// in its failures: an office of thousands behind one NAT refreshes freely.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { expectProblem, refresh, signUp, type Tokens } from '../helpers/flows.ts';
import { SECOND } from '../sessions/support.ts';

const OFFICE = '198.51.100.77';

describe('refresh limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_REFRESH_IP_PER_MINUTE: '3', RATE_LIMIT_REFRESH_SESSION_PER_MINUTE: '3', RATE_LIMIT_IP_PER_MINUTE: '1000' },
    });
  });
  afterAll(() => t.close());

  const refreshFrom = (ip: string, token: string) =>
    t.fastify.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: token }, remoteAddress: ip });

  it('many users behind one address refresh successfully far beyond the per-IP number', async () => {
    const users = await Promise.all(Array.from({ length: 4 }, () => signUp(t.fastify)));
    const current = users.map((u) => u.tokens.refresh_token);
    for (let round = 0; round < 3; round++) {
      t.clock.advance(SECOND);
      for (let i = 0; i < current.length; i++) {
        const res = await refreshFrom(OFFICE, current[i]!);
        expect(res.statusCode, res.body).toBe(200);
        current[i] = (res.json() as Tokens).refresh_token;
      }
    }
  });

  it('failed refreshes from one address are limited: after 3, even a valid token waits', async () => {
    const ip = '198.51.100.78';
    const { tokens } = await signUp(t.fastify);
    for (let i = 0; i < 3; i++) expectProblem(await refreshFrom(ip, `rt_${'A'.repeat(42)}${i}`), 401, 'invalid_grant');
    const limited = await refreshFrom(ip, tokens.refresh_token);
    expectProblem(limited, 429, 'rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another address is not affected; the token was not consumed.
    expect((await refreshFrom('198.51.100.79', tokens.refresh_token)).statusCode).toBe(200);
  });

  it('a session refreshing in a loop is stopped after 3 rotations a minute; its token stays current', async () => {
    const { tokens } = await signUp(t.fastify);
    let current = tokens.refresh_token;
    for (let i = 0; i < 3; i++) {
      const res = await refresh(t.fastify, current);
      expect(res.statusCode, res.body).toBe(200);
      current = (res.json() as Tokens).refresh_token;
    }
    const limited = await refresh(t.fastify, current);
    const problem = expectProblem(limited, 429, 'rate_limited') as unknown as { retry_after: number };
    expect(problem.retry_after).toBeGreaterThanOrEqual(1);
    expect(problem.retry_after).toBeLessThanOrEqual(60);
    // Through /oauth/token too, in RFC 6749 form.
    const oauth = await t.fastify.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: current }).toString(),
    });
    expect(oauth.statusCode).toBe(429);
    expect(oauth.json()).toMatchObject({ error: 'slow_down' });
    // A minute later the same token works: nothing was rotated or revoked meanwhile.
    t.clock.advance(61 * SECOND);
    expect((await refresh(t.fastify, current)).statusCode).toBe(200);
  });

  it('other sessions of the same user are not affected', async () => {
    const first = await signUp(t.fastify);
    let current = first.tokens.refresh_token;
    for (let i = 0; i < 3; i++) current = ((await refresh(t.fastify, current)).json() as Tokens).refresh_token;
    expectProblem(await refresh(t.fastify, current), 429, 'rate_limited');
    const second = await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: first.user.email, password: first.user.password } });
    expect((await refresh(t.fastify, (second.json() as Tokens).refresh_token)).statusCode).toBe(200);
  });
});
