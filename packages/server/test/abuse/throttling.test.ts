// Brute-force throttling over HTTP, with the in-memory counters (one replica): per-IP route
// limits, per-account back-off on logins and password changes, and that neither tells a
// registered email from an unknown one. The Redis-backed variant is throttling-redis.test.ts.
import fs from 'node:fs';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.ts';
import { routeLimits } from '../../src/http/rate-limit.ts';
import { REFRESH_ROUTES } from '../../src/http/refresh-failures.ts';
import { OPENAPI_PATH } from '../../src/http/routes/docs.ts';
import { createTestApp, tempDir, type TestApp } from '../helpers/app.ts';
import { bearer, expectProblem, PASSWORD, register, uniqueEmail } from '../helpers/flows.ts';

const WRONG = 'not the password at all';

/** A 429 problem with a sane Retry-After, echoed as `retry_after`; returns the seconds. */
function expectRateLimited(res: LightMyRequestResponse): number {
  const problem = expectProblem(res, 429, 'rate_limited') as unknown as { retry_after: number };
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true);
  expect(problem.retry_after).toBe(retryAfter);
  return retryAfter;
}

describe('defaults', () => {
  it('rate limiting is on by default, with the documented values', () => {
    expect(loadConfig({ KEYS_DIR: tempDir() }).rateLimit).toEqual({
      enabled: true,
      ipPerMinute: 30,
      refreshIpPerMinute: 300,
      refreshSessionPerMinute: 30,
      clientPerMinute: 6000,
      failuresBeforeBackoff: 5,
      backoffMaxSeconds: 900,
    });
    expect(loadConfig({ KEYS_DIR: tempDir(), RATE_LIMIT_ENABLED: 'false' }).rateLimit.enabled).toBe(false);
    expect(() => loadConfig({ KEYS_DIR: tempDir(), LOGIN_FAILURES_BEFORE_BACKOFF: '0' })).toThrow(/LOGIN_FAILURES_BEFORE_BACKOFF/);
    expect(loadConfig({ KEYS_DIR: tempDir(), TRUST_PROXY: '10.0.0.0/8, loopback,::1' }).trustProxy).toEqual(['10.0.0.0/8', 'loopback', '::1']);
    expect(loadConfig({ KEYS_DIR: tempDir(), TRUST_PROXY: 'yes' }).trustProxy).toBe(true);
    expect(loadConfig({ KEYS_DIR: tempDir() }).trustProxy).toBe(false);
    expect(() => loadConfig({ KEYS_DIR: tempDir(), TRUST_PROXY: 'nginx' })).toThrow(/TRUST_PROXY/);
    expect(() => loadConfig({ KEYS_DIR: tempDir(), TRUST_PROXY: '10.0.0.0/200' })).toThrow(/TRUST_PROXY/);
  });

  it('openapi.yaml documents the 429 of every limited route', () => {
    const spec = parse(fs.readFileSync(OPENAPI_PATH, 'utf8')) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    for (const route of [...Object.keys(routeLimits(loadConfig({ KEYS_DIR: tempDir() }))), ...REFRESH_ROUTES]) {
      const [method, path] = route.split(' ') as [string, string];
      expect(spec.paths[path]?.[method.toLowerCase()]?.responses['429'], route).toBeDefined();
    }
  });
});

describe('per-IP limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      db: 'pglite',
      env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_IP_PER_MINUTE: '3', RATE_LIMIT_REFRESH_IP_PER_MINUTE: '3', INTROSPECTION_CLIENTS: 'rs:secret' },
    });
  });
  afterAll(() => t.close());

  const post = (url: string, payload: unknown, remoteAddress: string, headers: Record<string, string> = {}) =>
    t.fastify.inject({ method: 'POST', url, payload: payload as string, remoteAddress, headers });

  it.each([
    ['/auth/login', { email: 'a@example.com', password: WRONG }],
    ['/auth/register', { email: 'not-an-email', password: 'x' }],
    ['/auth/refresh', { refresh_token: 'rt_nope' }],
    ['/auth/password', { current_password: 'x', new_password: 'y' }],
  ])('%s: the 4th request in a minute from one address is 429 rate_limited with Retry-After', async (url, body) => {
    const ip = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
    for (let i = 0; i < 3; i++) {
      const res = await post(url, body, ip);
      expect(res.statusCode).not.toBe(429);
      // Refresh counts failures only, with a counter of its own (see refresh-limits.test.ts).
      if (url !== '/auth/refresh') expect(res.headers['x-ratelimit-limit']).toBe('3');
    }
    const limited = await post(url, body, ip);
    expect(expectRateLimited(limited)).toBeLessThanOrEqual(60);
    // Another address is not affected.
    expect((await post(url, body, '203.0.113.9')).statusCode).not.toBe(429);
  });

  it('counts every request, malformed ones too (the limit runs before the body is read)', async () => {
    const ip = '198.51.100.251';
    for (let i = 0; i < 3; i++) expect((await post('/auth/login', '{"email":', ip, { 'content-type': 'application/json' })).statusCode).toBe(400);
    expectRateLimited(await post('/auth/login', { email: 'a@example.com', password: WRONG }, ip));
  });

  it('/oauth/token answers the RFC 6749 form: 429 slow_down with Retry-After', async () => {
    const ip = '198.51.100.252';
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    for (let i = 0; i < 3; i++) expect((await post('/oauth/token', 'grant_type=refresh_token&refresh_token=x', ip, form)).statusCode).toBe(400);
    const res = await post('/oauth/token', 'grant_type=refresh_token&refresh_token=x', ip, form);
    expect(res.statusCode).toBe(429);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toMatchObject({ error: 'slow_down' });
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('leaves unthrottled routes alone', async () => {
    for (let i = 0; i < 10; i++) {
      const res = await t.fastify.inject({ method: 'GET', url: '/.well-known/jwks.json', remoteAddress: '198.51.100.253' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });
});

describe.each([
  // Not trusted: X-Forwarded-For is ignored, all four come from the proxy's address.
  ['false', [401, 401, 429, 429]],
  // Every hop trusted: the leftmost entry wins, so a client that forges it gets fresh budgets.
  // Only right behind a proxy that overwrites X-Forwarded-For (as the test's "proxy" does not).
  ['true', [401, 401, 401, 401]],
  // The proxy's range trusted: the rightmost untrusted entry is the client, forgery or not.
  ['10.0.0.0/8', [401, 401, 429, 429]],
])('client address with TRUST_PROXY=%s', (trustProxy, expected) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ db: 'pglite', env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_IP_PER_MINUTE: '2', TRUST_PROXY: trustProxy } });
  });
  afterAll(() => t.close());

  it('decides which X-Forwarded-For entry is the client that the limit counts', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await t.fastify.inject({
        method: 'POST',
        url: '/auth/login',
        payload: { email: 'a@example.com', password: WRONG },
        remoteAddress: '10.0.0.1',
        // A client forging a different address each time, appended to by the proxy.
        headers: { 'x-forwarded-for': `192.0.2.${i + 1}, 203.0.113.50` },
      });
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual(expected);
  });

  if (trustProxy === '10.0.0.0/8') {
    it('a client not among the proxies cannot set its address at all', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await t.fastify.inject({
          method: 'POST',
          url: '/auth/register',
          payload: {},
          remoteAddress: '198.51.100.77',
          headers: { 'x-forwarded-for': `192.0.2.${i + 1}` },
        });
        statuses.push(res.statusCode);
      }
      expect(statuses).toEqual([400, 400, 429]);
    });
  }
});

describe('per-account back-off', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      db: 'pglite',
      env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_IP_PER_MINUTE: '100000', LOGIN_FAILURES_BEFORE_BACKOFF: '3', LOGIN_BACKOFF_MAX_SECONDS: '8' },
    });
  });
  afterAll(() => t.close());

  const login = (email: string, password: string, remoteAddress = '192.0.2.1') =>
    t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email, password }, remoteAddress });

  it('after N failures from one address, the next attempt waits, even with the right password; success resets', async () => {
    const { email } = await register(t.fastify);
    for (let i = 0; i < 3; i++) expectProblem(await login(email, WRONG), 401, 'invalid_credentials');
    expect(expectRateLimited(await login(email, PASSWORD))).toBe(1);
    // The same account from another address is not slowed by this pair.
    expect((await login(email, PASSWORD, '192.0.2.99')).statusCode).toBe(200);
    t.clock.advance(1_000);
    expect((await login(email, PASSWORD)).statusCode).toBe(200);
    // Counted from zero again.
    for (let i = 0; i < 3; i++) expectProblem(await login(email, WRONG), 401, 'invalid_credentials');
    expectRateLimited(await login(email, WRONG));
  });

  it('the window doubles per failure and is capped: the real user waits at most LOGIN_BACKOFF_MAX_SECONDS', async () => {
    const { email } = await register(t.fastify);
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) {
      expect((await login(email, WRONG)).statusCode).toBe(401);
      const res = await login(email, WRONG);
      if (res.statusCode === 429) {
        const wait = expectRateLimited(res);
        waits.push(wait);
        t.clock.advance(wait * 1000);
      }
    }
    expect(waits).toEqual([1, 2, 4, 8, 8, 8, 8, 8, 8]);
    expect((await login(email, PASSWORD)).statusCode).toBe(200);
  });

  it('an account attacked from many addresses backs off after 4×N failures in all', async () => {
    const { email } = await register(t.fastify);
    for (let i = 0; i < 12; i++) expect((await login(email, WRONG, `10.1.0.${i + 1}`)).statusCode).toBe(401);
    expectRateLimited(await login(email, PASSWORD, '10.1.0.200'));
    t.clock.advance(1_000);
    expect((await login(email, PASSWORD, '10.1.0.200')).statusCode).toBe(200);
  });

  it('counts the normalised email: case and spaces do not give fresh attempts', async () => {
    const { email } = await register(t.fastify);
    const variants = [email.toUpperCase(), `  ${email}`, `${email.replace(/^./, (c) => c.toUpperCase())} `];
    for (const variant of variants) expect((await login(variant, WRONG)).statusCode).toBe(401);
    expectRateLimited(await login(email, PASSWORD));
  });

  it('answers an unknown email exactly like a registered one (status, body, headers)', async () => {
    const { email: known } = await register(t.fastify);
    const unknown = uniqueEmail('nobody');
    const run = async (email: string) => {
      const answers: { status: number; body: string; headers: string[] }[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await login(email, WRONG, '192.0.2.50');
        const headers = Object.keys(res.headers).filter((h) => h !== 'date').sort();
        answers.push({ status: res.statusCode, body: res.body, headers });
      }
      return answers;
    };
    const forKnown = await run(known);
    t.clock.advance(60_000);
    const forUnknown = await run(unknown);
    expect(forKnown.map((a) => a.status)).toEqual([401, 401, 401, 429, 429, 429]);
    expect(forUnknown).toEqual(forKnown);
  });

  it('password change: wrong current passwords back off per user', async () => {
    const { email } = await register(t.fastify);
    const tokens = (await login(email, PASSWORD)).json() as { access_token: string };
    const change = (current: string) =>
      t.fastify.inject({
        method: 'POST',
        url: '/auth/password',
        headers: bearer(tokens.access_token),
        payload: { current_password: current, new_password: 'another long passphrase' },
      });
    for (let i = 0; i < 3; i++) expectProblem(await change(WRONG), 401, 'invalid_credentials');
    expectRateLimited(await change(PASSWORD));
    t.clock.advance(1_000);
    expect((await change(PASSWORD)).statusCode).toBe(200);
  });

  it('records throttled logins in the audit trail, without the email', async () => {
    const email = uniqueEmail('audited');
    for (let i = 0; i < 4; i++) await login(email, WRONG, '192.0.2.77');
    const lines = t.logs().filter((l) => l.event === 'login.failed' && l.ip === '192.0.2.77');
    expect(lines.map((l) => l.reason)).toEqual(['invalid_credentials', 'invalid_credentials', 'invalid_credentials', 'rate_limited']);
    expect(t.logText()).not.toContain(email);
  });
});
