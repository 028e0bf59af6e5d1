// Browser-facing protections on every answer: helmet's headers (with a CSP that still lets
// /docs render), CORS only for the allow-list, and no caching of anything carrying a token.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, signUp } from '../helpers/flows.ts';

const APP_ORIGIN = 'https://app.example.com';
const EVIL_ORIGIN = 'https://evil.example.net';
const BASIC = `Basic ${Buffer.from('rs:secret').toString('base64')}`;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** The API's policy: nothing may load, frame or submit anything from a JSON answer. */
const API_CSP = "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'";

/** `csp`: the exact policy expected; /docs has its own, checked by its test. */
function expectSecurityHeaders(res: LightMyRequestResponse, what: string, csp: string | 'own' = API_CSP): void {
  if (csp === 'own') expect(res.headers['content-security-policy'], what).toMatch(/frame-ancestors 'none'/);
  else expect(res.headers['content-security-policy'], what).toBe(csp);
  expect(res.headers['x-content-type-options'], what).toBe('nosniff');
  expect(res.headers['x-frame-options'], what).toBe('DENY');
  expect(res.headers['strict-transport-security'], what).toMatch(/max-age=\d+/);
  expect(res.headers['referrer-policy'], what).toBe('no-referrer');
  expect(res.headers['cross-origin-opener-policy'], what).toBe('same-origin');
  expect(res.headers['x-powered-by'], what).toBeUndefined();
}

describe('security headers, CORS and caching', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ db: 'pglite', env: { CORS_ORIGINS: APP_ORIGIN, INTROSPECTION_CLIENTS: 'rs:secret' } });
  });
  afterAll(() => t.close());

  it('every kind of answer carries the helmet headers; the API forbids loading anything', async () => {
    const { tokens } = await signUp(t.fastify);
    const answers: [string, LightMyRequestResponse][] = [
      ['200 json', await t.fastify.inject({ method: 'GET', url: '/.well-known/jwks.json' })],
      ['200 me', await t.fastify.inject({ method: 'GET', url: '/auth/me', headers: bearer(tokens.access_token) })],
      ['401', await t.fastify.inject({ method: 'GET', url: '/auth/me' })],
      ['404', await t.fastify.inject({ method: 'GET', url: '/nope' })],
      ['400', await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: '{', headers: { 'content-type': 'application/json' } })],
      ['204', await t.fastify.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: tokens.refresh_token } })],
      ['oauth 400', await t.fastify.inject({ method: 'POST', url: '/oauth/token', payload: 'grant_type=x', headers: FORM })],
      ['yaml', await t.fastify.inject({ method: 'GET', url: '/openapi.yaml' })],
      ['healthz', await t.fastify.inject({ method: 'GET', url: '/healthz' })],
    ];
    for (const [what, res] of answers) {
      expectSecurityHeaders(res, what);
      expect(res.headers['content-security-policy'], what).toContain("default-src 'none'");
      expect(res.headers['content-security-policy'], what).toContain("frame-ancestors 'none'");
    }
  });

  it('/docs renders: 200 HTML with a CSP that allows its own scripts and styles, and its assets load', async () => {
    for (const url of ['/docs', '/docs/']) {
      const res = await t.fastify.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expectSecurityHeaders(res, url, 'own');
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self';");
      expect(csp).toContain("script-src-attr 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-eval');
      expect(csp).not.toContain('upgrade-insecure-requests');
      // No inline script the CSP would block: every <script> has a src.
      expect(res.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    }
    for (const asset of ['/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js', '/docs/static/swagger-ui.css']) {
      const res = await t.fastify.inject({ method: 'GET', url: asset });
      expect(res.statusCode, asset).toBe(200);
      expect(res.headers['content-security-policy'], asset).toContain("script-src 'self'");
    }
  });

  describe('CORS', () => {
    const preflight = (origin: string) =>
      t.fastify.inject({
        method: 'OPTIONS',
        url: '/auth/login',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });

    it('the allowed origin gets Allow-Origin and Allow-Credentials', async () => {
      const res = await preflight(APP_ORIGIN);
      expect(res.statusCode).toBe(204);
      expect(res.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
      expect(res.headers['access-control-allow-credentials']).toBe('true');
      const get = await t.fastify.inject({ method: 'GET', url: '/.well-known/jwks.json', headers: { origin: APP_ORIGIN } });
      expect(get.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
      expect(String(get.headers.vary)).toMatch(/origin/i);
    });

    it.each([EVIL_ORIGIN, 'null', `${APP_ORIGIN}.evil.net`, 'http://app.example.com'])('%s gets no CORS header at all', async (origin) => {
      for (const res of [
        await preflight(origin),
        await t.fastify.inject({ method: 'GET', url: '/.well-known/jwks.json', headers: { origin } }),
        await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: 'a@example.com', password: 'x' }, headers: { origin } }),
      ]) {
        expect(res.statusCode).toBeLessThan(500);
        expect(res.headers['access-control-allow-origin']).toBeUndefined();
        expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      }
    });

    it('a request without Origin gets no CORS header', async () => {
      const res = await t.fastify.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    });
  });

  it('Cache-Control: no-store on every answer that carries a token', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const login = await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: user.password } });
    const cookieLogin = await t.fastify.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: user.password, token_delivery: 'cookie' },
    });
    const refreshed = await t.fastify.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } });
    const next = refreshed.json() as { access_token: string; refresh_token: string };
    const oauth = await t.fastify.inject({ method: 'POST', url: '/oauth/token', payload: `grant_type=refresh_token&refresh_token=${next.refresh_token}`, headers: FORM });
    const introspect = await t.fastify.inject({
      method: 'POST',
      url: '/oauth/introspect',
      payload: `token=${next.access_token}`,
      headers: { ...FORM, authorization: BASIC },
    });
    const me = await t.fastify.inject({ method: 'GET', url: '/auth/me', headers: bearer(next.access_token) });
    const fresh = login.json() as { access_token: string };
    const password = await t.fastify.inject({
      method: 'POST',
      url: '/auth/password',
      headers: bearer(fresh.access_token),
      payload: { current_password: user.password, new_password: 'a brand new passphrase' },
    });
    const answers = { login, cookieLogin, refreshed, oauth, introspect, me, password };
    for (const [what, res] of Object.entries(answers)) {
      expect(res.statusCode, `${what}: ${res.body}`).toBe(200);
      expect(res.headers['cache-control'], what).toBe('no-store');
    }
    expect((introspect.json() as { active: boolean }).active).toBe(true);
  });
});
