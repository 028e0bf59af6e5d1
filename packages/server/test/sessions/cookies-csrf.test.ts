// Browser delivery: the refresh cookie's attributes and name, and the CSRF and CORS rules
// that make a cookie-authenticated refresh or logout safe.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { expectProblem, me, register, signUp, type Tokens } from '../helpers/flows.ts';
import { cookieNamed, expectClearedCookie, refreshWithCookie, XHR } from './support.ts';

const APP_ORIGIN = 'https://app.example.com';
const EVIL_ORIGIN = 'https://evil.example.net';

async function cookieLogin(t: TestApp, remember = true): Promise<{ res: LightMyRequestResponse; cookie: string; body: Tokens }> {
  const user = await register(t.fastify);
  const res = await t.fastify.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { email: user.email, password: user.password, remember, token_delivery: 'cookie' },
  });
  expect(res.statusCode, res.body).toBe(200);
  const name = t.config.issuer.startsWith('https:') ? `__Host-${t.config.cookieName}` : t.config.cookieName;
  return { res, cookie: cookieNamed(res, name).value, body: res.json() as Tokens };
}

describe('refresh cookie over http (ISSUER=http://…)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { CORS_ORIGINS: APP_ORIGIN } });
  });
  afterAll(() => t.close());

  it('is HttpOnly, Secure, SameSite=Strict, Path=/, named tessera_refresh, and not in the body', async () => {
    const { res, cookie, body } = await cookieLogin(t);
    expect(t.config.cookieName).toBe('tessera_refresh');
    const set = cookieNamed(res, 'tessera_refresh');
    expect(set.attrs.has('httponly')).toBe(true);
    expect(set.attrs.has('secure')).toBe(true);
    expect(set.attrs.get('samesite')).toBe('Strict');
    expect(set.attrs.get('path')).toBe('/');
    expect(set.attrs.has('domain')).toBe(false);
    expect(cookie).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
    expect(body.refresh_token).toBeUndefined();
    expect(JSON.stringify(body)).not.toContain(cookie);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('refreshes with the cookie and the custom header; the new cookie replaces the old one', async () => {
    const { cookie } = await cookieLogin(t);
    const res = await refreshWithCookie(t.fastify, 'tessera_refresh', cookie);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as Tokens;
    expect(body.refresh_token).toBeUndefined();
    const next = cookieNamed(res, 'tessera_refresh');
    expect(next.value).not.toBe(cookie);
    expect(next.attrs.has('httponly')).toBe(true);
    expect((await me(t.fastify, body.access_token)).statusCode).toBe(200);
  });

  it('a cookie refresh without the X-Requested-With header → 403 csrf_rejected, and nothing rotates', async () => {
    const { cookie } = await cookieLogin(t);
    expectProblem(await refreshWithCookie(t.fastify, 'tessera_refresh', cookie, {}), 403, 'csrf_rejected');
    // Also when the page sends JSON alongside the cookie.
    const withJson = await t.fastify.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { tessera_refresh: cookie },
      payload: {},
    });
    expectProblem(withJson, 403, 'csrf_rejected');
    // The cookie still works: the rejected requests changed nothing.
    const ok = await refreshWithCookie(t.fastify, 'tessera_refresh', cookie);
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('a cookie logout without the header → 403 csrf_rejected, and the session lives on', async () => {
    const { cookie, body } = await cookieLogin(t);
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/logout', cookies: { tessera_refresh: cookie } });
    expectProblem(res, 403, 'csrf_rejected');
    expect((await me(t.fastify, body.access_token)).statusCode).toBe(200);
    expect((await refreshWithCookie(t.fastify, 'tessera_refresh', cookie)).statusCode).toBe(200);
  });

  it('a disallowed Origin → 403 csrf_rejected (refresh and logout), even with the header', async () => {
    const { cookie, body } = await cookieLogin(t);
    const headers = { ...XHR, origin: EVIL_ORIGIN };
    expectProblem(await refreshWithCookie(t.fastify, 'tessera_refresh', cookie, headers), 403, 'csrf_rejected');
    const logout = await t.fastify.inject({ method: 'POST', url: '/auth/logout', cookies: { tessera_refresh: cookie }, headers });
    expectProblem(logout, 403, 'csrf_rejected');
    // A look-alike of the allowed origin is not the allowed origin.
    for (const origin of [`${APP_ORIGIN}.evil.net`, 'http://app.example.com', 'null']) {
      const res = await refreshWithCookie(t.fastify, 'tessera_refresh', cookie, { ...XHR, origin });
      expectProblem(res, 403, 'csrf_rejected');
    }
    expect((await me(t.fastify, body.access_token)).statusCode).toBe(200);
  });

  it('an allowed Origin (CORS_ORIGINS) with the header → 200 for refresh and 204 for logout', async () => {
    const { cookie, body } = await cookieLogin(t);
    const headers = { ...XHR, origin: APP_ORIGIN };
    const refreshed = await refreshWithCookie(t.fastify, 'tessera_refresh', cookie, headers);
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(refreshed.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(refreshed.headers['access-control-allow-credentials']).toBe('true');
    const next = cookieNamed(refreshed, 'tessera_refresh').value;

    const logout = await t.fastify.inject({ method: 'POST', url: '/auth/logout', cookies: { tessera_refresh: next }, headers });
    expect(logout.statusCode, logout.body).toBe(204);
    expectClearedCookie(logout, 'tessera_refresh');
    expectProblem(await me(t.fastify, body.access_token), 401, 'token_revoked');
  });

  it('the service’s own origin is allowed', async () => {
    const { cookie } = await cookieLogin(t);
    const res = await refreshWithCookie(t.fastify, 'tessera_refresh', cookie, { ...XHR, origin: new URL(t.config.issuer).origin });
    expect(res.statusCode, res.body).toBe(200);
  });

  it('a form-encoded POST to /auth/refresh → 403 csrf_rejected, with or without the cookie', async () => {
    const { cookie } = await cookieLogin(t);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const withCookie = await t.fastify.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { tessera_refresh: cookie },
      headers: form,
      payload: 'refresh_token=x',
    });
    expectProblem(withCookie, 403, 'csrf_rejected');
    const withoutCookie = await t.fastify.inject({
      method: 'POST',
      url: '/auth/refresh',
      headers: { ...form, origin: EVIL_ORIGIN },
      payload: `refresh_token=${cookie}`,
    });
    expectProblem(withoutCookie, 403, 'csrf_rejected');
    const textPlain = await t.fastify.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { tessera_refresh: cookie },
      headers: { 'content-type': 'text/plain' },
      payload: '{"refresh_token":"x"}',
    });
    expectProblem(textPlain, 403, 'csrf_rejected');
    expect((await refreshWithCookie(t.fastify, 'tessera_refresh', cookie)).statusCode).toBe(200);
  });

  it('a cookie request carrying cached Basic or Negotiate credentials is still checked: 403 without the header', async () => {
    const { cookie, body } = await cookieLogin(t);
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag', `Bearer ${body.access_token}`]) {
      for (const url of ['/auth/refresh', '/auth/logout']) {
        const res = await t.fastify.inject({ method: 'POST', url, cookies: { tessera_refresh: cookie }, headers: { authorization, origin: EVIL_ORIGIN } });
        expectProblem(res, 403, 'csrf_rejected');
        const noOrigin = await t.fastify.inject({ method: 'POST', url, cookies: { tessera_refresh: cookie }, headers: { authorization } });
        expectProblem(noOrigin, 403, 'csrf_rejected');
      }
    }
    // Nothing was refreshed or logged out: the cookie and the access token still work.
    expect((await me(t.fastify, body.access_token)).statusCode).toBe(200);
    expect((await refreshWithCookie(t.fastify, 'tessera_refresh', cookie)).statusCode).toBe(200);
  });

  it('a request that cannot use the cookie skips the check: bearer logout, or a token in a JSON body', async () => {
    const { tokens } = await signUp(t.fastify);
    const bearerLogout = await t.fastify.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(bearerLogout.statusCode, bearerLogout.body).toBe(204);
    const other = await signUp(t.fastify);
    const bodyRefresh = await t.fastify.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: other.tokens.refresh_token }, headers: { origin: EVIL_ORIGIN } });
    expect(bodyRefresh.statusCode, bodyRefresh.body).toBe(200);
  });

  it('a cookie that can never work again is cleared on a 401', async () => {
    const res = await refreshWithCookie(t.fastify, 'tessera_refresh', `rt_${'A'.repeat(43)}`);
    expectProblem(res, 401, 'invalid_grant');
    expectClearedCookie(res, 'tessera_refresh');
  });

  it('CORS preflight: the allowed origin gets Allow-Origin and credentials; another origin does not', async () => {
    const preflight = (origin: string) =>
      t.fastify.inject({
        method: 'OPTIONS',
        url: '/auth/refresh',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-requested-with, content-type' },
      });
    const allowed = await preflight(APP_ORIGIN);
    expect(allowed.statusCode).toBeLessThan(300);
    expect(allowed.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
    expect(allowed.headers['access-control-allow-credentials']).toBe('true');
    expect(String(allowed.headers['access-control-allow-headers']).toLowerCase()).toContain('x-requested-with');
    expect(String(allowed.headers['access-control-allow-methods'])).toContain('POST');

    const denied = await preflight(EVIL_ORIGIN);
    // No Allow-Origin: the browser fails the preflight and never sends the request.
    // (@fastify/cors still adds Allow-Credentials: true, which means nothing without it.)
    expect(denied.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('refresh cookie over https (ISSUER=https://…)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { ISSUER: 'https://auth.example.com', CORS_ORIGINS: APP_ORIGIN } });
  });
  afterAll(() => t.close());

  it('is named __Host-tessera_refresh with the same attributes, and works for refresh and logout', async () => {
    const { res, cookie, body } = await cookieLogin(t);
    const set = cookieNamed(res, '__Host-tessera_refresh');
    expect(set.attrs.has('httponly')).toBe(true);
    expect(set.attrs.has('secure')).toBe(true);
    expect(set.attrs.get('samesite')).toBe('Strict');
    expect(set.attrs.get('path')).toBe('/');
    expect(set.attrs.has('domain')).toBe(false);
    expect(Number(set.attrs.get('max-age'))).toBe(body.refresh_token_expires_in);
    expect(body.refresh_token).toBeUndefined();

    // The unprefixed name is not read.
    expectProblem(await refreshWithCookie(t.fastify, 'tessera_refresh', cookie), 401, 'invalid_grant');

    const refreshed = await refreshWithCookie(t.fastify, '__Host-tessera_refresh', cookie, { ...XHR, origin: 'https://auth.example.com' });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const next = cookieNamed(refreshed, '__Host-tessera_refresh').value;

    const logout = await t.fastify.inject({
      method: 'POST',
      url: '/auth/logout',
      cookies: { '__Host-tessera_refresh': next },
      headers: { ...XHR, origin: APP_ORIGIN },
    });
    expect(logout.statusCode, logout.body).toBe(204);
    expectClearedCookie(logout, '__Host-tessera_refresh');
    expectProblem(await refreshWithCookie(t.fastify, '__Host-tessera_refresh', next), 401, 'invalid_grant');
  });
});

describe('CORS_ORIGINS written with a trailing slash', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { CORS_ORIGINS: 'http://localhost:47030/' } });
  });
  afterAll(() => t.close());

  it('matches the Origin browsers send (no slash): the cookie refresh and CORS work', async () => {
    const { cookie } = await cookieLogin(t);
    const res = await refreshWithCookie(t.fastify, 'tessera_refresh', cookie, { ...XHR, origin: 'http://localhost:47030' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe('http://localhost:47030');
  });
});
