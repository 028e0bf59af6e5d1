// Client mistakes get a 4xx problem+json that names the problem; never a 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, expectProblem, signUp } from '../helpers/flows.ts';

const JSON_ROUTES = ['/auth/register', '/auth/login', '/auth/refresh', '/auth/logout', '/auth/password'];

describe('bad input', () => {
  let t: TestApp;
  let access: string;
  beforeAll(async () => {
    t = await createTestApp({ db: 'pglite' });
    access = (await signUp(t.fastify)).tokens.access_token;
  });
  afterAll(() => t.close());

  const post = (url: string, body: string, contentType = 'application/json', headers: Record<string, string> = {}) =>
    t.fastify.inject({ method: 'POST', url, payload: body, headers: { 'content-type': contentType, ...bearer(access), ...headers } });

  it.each(JSON_ROUTES)('%s: malformed JSON → 400 malformed_json', async (url) => {
    const problem = expectProblem(await post(url, '{"email": '), 400, 'malformed_json');
    expect(problem.detail).toContain('body');
  });

  it.each(JSON_ROUTES)('%s: a body over the limit → 413 payload_too_large', async (url) => {
    expectProblem(await post(url, JSON.stringify({ email: 'x'.repeat(20_000) })), 413, 'payload_too_large');
  });

  it.each(JSON_ROUTES)('%s: text/plain → 415 unsupported_media_type', async (url) => {
    expectProblem(await post(url, 'hello', 'text/plain', { 'x-requested-with': 'test' }), 415, 'unsupported_media_type');
  });

  it.each(JSON_ROUTES)('%s: an array or a string instead of an object → 400 validation_failed', async (url) => {
    expectProblem(await post(url, '[]'), 400, 'validation_failed');
    expectProblem(await post(url, '"text"'), 400, 'validation_failed');
  });

  it.each(JSON_ROUTES)('%s: unknown fields → 400 naming them', async (url) => {
    const problem = expectProblem(await post(url, JSON.stringify({ is_admin: true })), 400, 'validation_failed');
    expect(problem.detail).toContain('is_admin');
  });

  it.each([
    ['/auth/register', { email: 'a@example.com' }, 'password'],
    ['/auth/register', { email: 42, password: 'long enough password' }, 'email'],
    ['/auth/register', { email: 'not-an-email', password: 'long enough password' }, 'email'],
    ['/auth/register', { email: 'a\u0000b@example.com', password: 'long enough password' }, 'email'],
    ['/auth/register', { email: 'a@example.com', password: '\ud800 lone surrogate' }, 'password'],
    ['/auth/login', { password: 'x' }, 'email'],
    ['/auth/login', { email: 'a@example.com', password: 'x', remember: 'yes' }, 'remember'],
    ['/auth/login', { email: 'a@example.com', password: 'x', token_delivery: 'header' }, 'token_delivery'],
    ['/auth/login', { email: 'a@example.com', password: null }, 'password'],
    ['/auth/refresh', { refresh_token: 12 }, 'refresh_token'],
    ['/auth/password', { current_password: 'x' }, 'new_password'],
  ])('%s with %j names the field %s', async (url, body, field) => {
    const problem = expectProblem(await post(url, JSON.stringify(body)), 400, 'validation_failed') as unknown as {
      errors: { field: string }[];
    };
    expect(problem.errors.map((e) => e.field)).toContain(field);
  });

  it('rejects prototype-poisoning JSON', async () => {
    const res = await post('/auth/login', '{"__proto__": {"admin": true}, "email": "a@example.com", "password": "x"}');
    expect(res.statusCode).toBe(400);
  });

  it.each(['', 'Bearer', 'Bearer ', 'Basic abc', 'Bearer a.b.c', 'Bearer two tokens', `Bearer ${'x'.repeat(10_000)}`])(
    'GET /auth/me with Authorization %j → 401 invalid_token with WWW-Authenticate',
    async (authorization) => {
      const res = await t.fastify.inject({ method: 'GET', url: '/auth/me', headers: { authorization } });
      expectProblem(res, 401, 'invalid_token');
      expect(res.headers['www-authenticate']).toContain('Bearer');
      expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    },
  );

  it('a missing bearer token on /auth/me → 401 invalid_token with WWW-Authenticate', async () => {
    const res = await t.fastify.inject({ method: 'GET', url: '/auth/me' });
    expectProblem(res, 401, 'invalid_token');
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('DELETE /auth/sessions/{id} with a non-UUID → 400 naming id', async () => {
    const res = await t.fastify.inject({ method: 'DELETE', url: '/auth/sessions/../../etc', headers: bearer(access) });
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    const bad = await t.fastify.inject({ method: 'DELETE', url: "/auth/sessions/1'%20OR%201=1", headers: bearer(access) });
    const problem = expectProblem(bad, 400, 'validation_failed');
    expect(problem.detail).toContain('id');
  });

  it('unknown routes → 404 not_found problem', async () => {
    expectProblem(await t.fastify.inject({ method: 'GET', url: '/nope' }), 404, 'not_found');
  });

  it('OAuth endpoints answer RFC 6749 errors for bad forms', async () => {
    const res = await t.fastify.inject({
      method: 'POST',
      url: '/oauth/token',
      payload: 'grant_type=password&username=a&password=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'unsupported_grant_type' });
    const json = await t.fastify.inject({ method: 'POST', url: '/oauth/token', payload: { grant_type: 'refresh_token' } });
    expect(json.statusCode).toBe(400);
    expect(json.json()).toMatchObject({ error: 'invalid_request' });
  });
});
