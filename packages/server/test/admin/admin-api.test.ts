// The admin API: who may call it (route by route), what each action does, and the audit.
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, decodeJwt, expectProblem, login, me, PASSWORD, refresh, register, signUp, uniqueEmail, type Tokens } from '../helpers/flows.ts';
import { enableTotp } from '../helpers/totp.ts';

const ADMIN = { id: 'ops-console', secret: 'a-long-admin-secret-for-tests' };
const RESOURCE = { id: 'billing-api', secret: 'introspection-secret-for-tests' };
const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });
const asAdmin = basic(ADMIN.id, ADMIN.secret);
const SOME_ID = '00000000-0000-4000-8000-000000000000';

/** Every admin route, with a body that would be valid. */
const ROUTES: { method: 'GET' | 'POST' | 'PUT' | 'DELETE'; url: string; payload?: unknown }[] = [
  { method: 'GET', url: '/admin/users' },
  { method: 'POST', url: '/admin/users', payload: { email: 'nobody@example.com', password: PASSWORD } },
  { method: 'GET', url: `/admin/users/${SOME_ID}` },
  { method: 'POST', url: `/admin/users/${SOME_ID}/disable` },
  { method: 'POST', url: `/admin/users/${SOME_ID}/enable` },
  { method: 'PUT', url: `/admin/users/${SOME_ID}/roles`, payload: { roles: ['admin'] } },
  { method: 'DELETE', url: `/admin/users/${SOME_ID}/mfa` },
  { method: 'DELETE', url: `/admin/users/${SOME_ID}/sessions` },
  { method: 'PUT', url: `/admin/users/${SOME_ID}/password`, payload: { password: 'a brand new passphrase' } },
  { method: 'DELETE', url: `/admin/users/${SOME_ID}` },
];

describe('admin API', () => {
  let t: TestApp;
  const call = (route: (typeof ROUTES)[number], headers: Record<string, string> = {}): Promise<LightMyRequestResponse> =>
    t.fastify.inject({ method: route.method, url: route.url, headers, ...(route.payload ? { payload: route.payload } : {}) } as never);

  beforeAll(async () => {
    t = await createTestApp({
      env: { ADMIN_CLIENTS: `${ADMIN.id}:${ADMIN.secret}`, INTROSPECTION_CLIENTS: `${RESOURCE.id}:${RESOURCE.secret}` },
    });
  });
  afterAll(() => t?.close());

  describe.each(ROUTES)('$method $url', (route) => {
    it('401 invalid_client without credentials, with a wrong secret, with a bearer token, and for a non-admin client', async () => {
      const { tokens } = await signUp(t.fastify);
      for (const headers of [{}, basic(ADMIN.id, 'wrong secret'), basic('unknown', ADMIN.secret), bearer(tokens.access_token), basic(RESOURCE.id, RESOURCE.secret)]) {
        const res = await call(route, headers);
        expectProblem(res, 401, 'invalid_client');
        expect(res.headers['www-authenticate']).toBe('Basic realm="tessera"');
      }
    });

    it('lets the admin client in', async () => {
      const res = await call(route, asAdmin);
      expect([200, 201, 404]).toContain(res.statusCode);
      if (res.statusCode === 404) expect(res.json()).toMatchObject({ code: 'not_found', detail: 'No such user' });
    });
  });

  it('audits failed client authentication without the secret', async () => {
    await call(ROUTES[0]!, basic(ADMIN.id, 'guess-1'));
    const line = t.logs().find((l) => l.event === 'client.auth_failed' && l.reason === 'wrong_credentials' && l.client_id === ADMIN.id);
    expect(line).toMatchObject({ realm: 'admin', ip: '127.0.0.1' });
    expect(t.logText()).not.toContain('guess-1');
    expect(t.logText()).not.toContain(ADMIN.secret);
  });

  it('creates, lists with a search and cursor pages, gets, disables and enables users', async () => {
    const tag = `page${Date.now()}`;
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await t.fastify.inject({ method: 'POST', url: '/admin/users', headers: asAdmin, payload: { email: `${tag}-${i}@example.com`, password: PASSWORD, roles: i === 0 ? ['admin'] : [] } });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toMatchObject({ email: `${tag}-${i}@example.com`, disabled: false, mfa_enabled: false, roles: i === 0 ? ['admin'] : [] });
      created.push(res.json<{ id: string }>().id);
      t.clock.advance(1_000);
    }
    expectProblem(await t.fastify.inject({ method: 'POST', url: '/admin/users', headers: asAdmin, payload: { email: `${tag}-0@example.com`, password: PASSWORD } }), 409, 'email_taken');
    expectProblem(await t.fastify.inject({ method: 'POST', url: '/admin/users', headers: asAdmin, payload: { email: 'x@example.com', password: PASSWORD, roles: ['has space'] } }), 400, 'validation_failed');

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: LightMyRequestResponse = await t.fastify.inject({ method: 'GET', url: `/admin/users?query=${tag.toUpperCase()}&limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: asAdmin });
      expect(page.statusCode, page.body).toBe(200);
      const body = page.json<{ users: { id: string }[]; next_cursor: string | null }>();
      expect(body.users.length).toBeLessThanOrEqual(2);
      seen.push(...body.users.map((u) => u.id));
      cursor = body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(created);
    // LIKE wildcards are literal.
    expect((await t.fastify.inject({ method: 'GET', url: '/admin/users?query=%25', headers: asAdmin })).json<{ users: unknown[] }>().users).toEqual([]);
    expectProblem(await t.fastify.inject({ method: 'GET', url: '/admin/users?cursor=garbage', headers: asAdmin }), 400, 'validation_failed');
    expectProblem(await t.fastify.inject({ method: 'GET', url: '/admin/users?limit=1000', headers: asAdmin }), 400, 'validation_failed');

    const id = created[1]!;
    const tokens = await login(t.fastify, `${tag}-1@example.com`);
    const disabled = await t.fastify.inject({ method: 'POST', url: `/admin/users/${id}/disable`, headers: asAdmin });
    expect(disabled.json()).toMatchObject({ id, disabled: true });
    expectProblem(await me(t.fastify, tokens.access_token), 401, 'token_revoked');
    expect((await refresh(t.fastify, tokens.refresh_token)).statusCode).toBe(401);
    expectProblem(await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: `${tag}-1@example.com`, password: PASSWORD } }), 401, 'invalid_credentials');
    const enabled = await t.fastify.inject({ method: 'POST', url: `/admin/users/${id}/enable`, headers: asAdmin });
    expect(enabled.json()).toMatchObject({ id, disabled: false, disabled_at: null });
    await login(t.fastify, `${tag}-1@example.com`);

    const got = await t.fastify.inject({ method: 'GET', url: `/admin/users/${created[0]}`, headers: asAdmin });
    expect(got.json()).toMatchObject({ id: created[0], roles: ['admin'] });
    expectProblem(await t.fastify.inject({ method: 'GET', url: '/admin/users/not-a-uuid', headers: asAdmin }), 400, 'validation_failed');

    for (const event of ['admin.user_created', 'admin.users_listed', 'admin.user_disabled', 'admin.user_enabled', 'admin.user_read']) {
      expect(t.logs().find((l) => l.event === event), event).toMatchObject({ admin_client: ADMIN.id, ip: '127.0.0.1' });
    }
  });

  it('sets roles: the next token carries them, and taking one away cuts off older access tokens at once', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const set = (roles: string[]) => t.fastify.inject({ method: 'PUT', url: `/admin/users/${user.id}/roles`, headers: asAdmin, payload: { roles } });
    expect((await set(['admin', 'billing', 'admin'])).json()).toMatchObject({ roles: ['admin', 'billing'] });
    const withRoles = (await refresh(t.fastify, tokens.refresh_token)).json<Tokens>();
    expect(decodeJwt(withRoles.access_token).payload.roles).toEqual(['admin', 'billing']);
    // Taken away in the very second that token was issued: it is refused all the same.
    expect((await set(['billing'])).json()).toMatchObject({ roles: ['billing'] });
    expectProblem(await me(t.fastify, withRoles.access_token), 401, 'token_revoked');
    // The session lives on and, from the next second, refreshes into the new roles.
    t.clock.advance(1_000);
    const after = (await refresh(t.fastify, withRoles.refresh_token)).json<Tokens>();
    expect(decodeJwt(after.access_token).payload.roles).toEqual(['billing']);
    expect((await me(t.fastify, after.access_token)).statusCode).toBe(200);
    expect(t.logs().find((l) => l.event === 'admin.roles_set' && l.user_id === user.id && Array.isArray(l.removed) && (l.removed as string[]).includes('admin'))).toBeDefined();
  });

  it('resets the second factor and ends every session', async () => {
    const { user, tokens } = await signUp(t.fastify);
    await enableTotp(t.fastify, tokens.access_token, t.clock.now());
    const second = (await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })).json();
    expect(second).toMatchObject({ mfa_required: true });
    const reset = await t.fastify.inject({ method: 'DELETE', url: `/admin/users/${user.id}/mfa`, headers: asAdmin });
    expect(reset.json()).toMatchObject({ id: user.id, mfa_enabled: false });
    const again = await login(t.fastify, user.email);
    expect(again).toHaveProperty('access_token');

    const ended = await t.fastify.inject({ method: 'DELETE', url: `/admin/users/${user.id}/sessions`, headers: asAdmin });
    expect(ended.json()).toEqual({ sessions_ended: 2 });
    for (const token of [tokens.access_token, again.access_token]) expectProblem(await me(t.fastify, token), 401, 'token_revoked');
    expect((await refresh(t.fastify, again.refresh_token)).statusCode).toBe(401);
    expect(t.logs().find((l) => l.event === 'session.revoked_all' && l.user_id === user.id)).toMatchObject({ reason: `ended_by:${ADMIN.id}` });
    expect(t.logs().find((l) => l.event === 'admin.mfa_reset' && l.user_id === user.id)).toMatchObject({ admin_client: ADMIN.id, had_factor: true });
  });
});

describe('admin API: set a password, delete a user (account recovery\'s own code)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { ADMIN_CLIENTS: `${ADMIN.id}:${ADMIN.secret}` } });
  });
  afterAll(() => t?.close());

  it('a new password ends every session and access token; the old password fails, the new one works', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const res = await t.fastify.inject({ method: 'PUT', url: `/admin/users/${user.id}/password`, headers: asAdmin, payload: { password: 'set by the operator' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ sessions_ended: 1 });
    expectProblem(await me(t.fastify, tokens.access_token), 401, 'token_revoked');
    expect((await refresh(t.fastify, tokens.refresh_token)).statusCode).toBe(401);
    expectProblem(await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } }), 401, 'invalid_credentials');
    await login(t.fastify, user.email, 'set by the operator');
    expectProblem(await t.fastify.inject({ method: 'PUT', url: `/admin/users/${user.id}/password`, headers: asAdmin, payload: { password: 'short' } }), 400, 'validation_failed');
    expect(t.logs().find((l) => l.event === 'admin.password_set' && l.user_id === user.id)).toMatchObject({ admin_client: ADMIN.id, sessions_ended: 1 });
  });

  it('deletes a user: tokens refused, the address free again, a second delete is 404', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const res = await t.fastify.inject({ method: 'DELETE', url: `/admin/users/${user.id}`, headers: asAdmin });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ sessions_ended: 1 });
    expectProblem(await me(t.fastify, tokens.access_token), 401, 'token_revoked');
    expectProblem(await t.fastify.inject({ method: 'GET', url: `/admin/users/${user.id}`, headers: asAdmin }), 404, 'not_found');
    expectProblem(await t.fastify.inject({ method: 'DELETE', url: `/admin/users/${user.id}`, headers: asAdmin }), 404, 'not_found');
    await register(t.fastify, user.email);
    expect(t.logs().find((l) => l.event === 'account.deleted' && l.user_id === user.id)).toMatchObject({ by: 'admin' });
    expect(t.logs().find((l) => l.event === 'admin.user_deleted' && l.user_id === user.id)).toMatchObject({ admin_client: ADMIN.id });
  });
});

describe('admin API, off and throttled', () => {
  it('answers 404 on every route when ADMIN_CLIENTS is unset, whatever the credentials', async () => {
    const t = await createTestApp();
    try {
      for (const route of ROUTES) {
        const res = await t.fastify.inject({ method: route.method, url: route.url, headers: asAdmin, ...(route.payload ? { payload: route.payload } : {}) } as never);
        expectProblem(res, 404, 'not_found');
      }
    } finally {
      await t.close();
    }
  });

  it('backs off an address after repeated failures, for right secrets too, and lets it in again later', async () => {
    const t = await createTestApp({ env: { ADMIN_CLIENTS: `${ADMIN.id}:${ADMIN.secret}`, RATE_LIMIT_ENABLED: 'true', LOGIN_FAILURES_BEFORE_BACKOFF: '3' } });
    try {
      const list = (headers: Record<string, string>) => t.fastify.inject({ method: 'GET', url: '/admin/users', headers });
      // Successes never add up, however many.
      for (let i = 0; i < 10; i++) expect((await list(asAdmin)).statusCode).toBe(200);
      for (let i = 0; i < 3; i++) expectProblem(await list(basic(ADMIN.id, `guess-${i}`)), 401, 'invalid_client');
      const blocked = expectProblem(await list(asAdmin), 429, 'rate_limited');
      expect(blocked.detail).toMatch(/failed client authentications/);
      t.clock.advance(2_000);
      expect((await list(asAdmin)).statusCode).toBe(200);
      expect(t.logs().filter((l) => l.event === 'client.auth_failed').map((l) => l.reason)).toEqual(['wrong_credentials', 'wrong_credentials', 'wrong_credentials', 'rate_limited']);
    } finally {
      await t.close();
    }
  });

  it('a user of the regular API can never reach it', async () => {
    const t = await createTestApp({ env: { ADMIN_CLIENTS: `${ADMIN.id}:${ADMIN.secret}` } });
    try {
      const user = await register(t.fastify, uniqueEmail());
      const tokens = await login(t.fastify, user.email);
      expectProblem(await t.fastify.inject({ method: 'GET', url: '/admin/users', headers: bearer(tokens.access_token) }), 401, 'invalid_client');
      expectProblem(await t.fastify.inject({ method: 'GET', url: '/admin/users', headers: basic(user.email, PASSWORD) }), 401, 'invalid_client');
    } finally {
      await t.close();
    }
  });
});
