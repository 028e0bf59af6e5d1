// Ending sessions: logout (body, cookie, bearer), logout-all, and the session list and
// delete endpoints.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, decodeJwt, expectProblem, login, me, refresh, register, signUp, type Tokens } from '../helpers/flows.ts';
import { cookieNamed, expectClearedCookie, listSessions, SECOND, XHR } from './support.ts';

describe('logout', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const expectDead = async (tokens: { access_token: string; refresh_token: string }) => {
    expect((await refresh(t.fastify, tokens.refresh_token)).statusCode).toBe(401);
    expectProblem(await refresh(t.fastify, tokens.refresh_token), 401, 'invalid_grant');
    expectProblem(await me(t.fastify, tokens.access_token), 401, 'token_revoked');
  };

  it('with the refresh token in the body → 204, session dead, cookie cleared', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const other = await login(t.fastify, user.email);
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: tokens.refresh_token } });
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');
    expectClearedCookie(res, t.config.cookieName);
    await expectDead(tokens);
    // Only that session: the user's other session lives.
    expect((await me(t.fastify, other.access_token)).statusCode).toBe(200);
    expect((await refresh(t.fastify, other.refresh_token)).statusCode).toBe(200);
    const events = t.logs().filter((l) => l.event === 'session.revoked' && l.session_id === decodeJwt(tokens.access_token).payload.sid);
    expect(events).toHaveLength(1);
  });

  it('with a rotated refresh token of the session still ends the session', async () => {
    const { tokens } = await signUp(t.fastify);
    const next = (await refresh(t.fastify, tokens.refresh_token)).json() as Tokens;
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: tokens.refresh_token } });
    expect(res.statusCode, res.body).toBe(204);
    await expectDead(next);
  });

  it('with the refresh cookie (and the custom header) → 204, session dead, cookie cleared', async () => {
    const user = await register(t.fastify);
    const loginRes = await t.fastify.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: user.password, remember: true, token_delivery: 'cookie' },
    });
    expect(loginRes.statusCode, loginRes.body).toBe(200);
    const cookie = cookieNamed(loginRes, t.config.cookieName).value;
    const body = loginRes.json() as Tokens;

    const res = await t.fastify.inject({ method: 'POST', url: '/auth/logout', cookies: { [t.config.cookieName]: cookie }, headers: XHR });
    expect(res.statusCode, res.body).toBe(204);
    expectClearedCookie(res, t.config.cookieName);
    await expectDead({ access_token: body.access_token, refresh_token: cookie });
  });

  it('with a bearer access token only → 204, session dead, cookie cleared', async () => {
    const { tokens } = await signUp(t.fastify);
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/logout', headers: bearer(tokens.access_token) });
    expect(res.statusCode, res.body).toBe(204);
    expectClearedCookie(res, t.config.cookieName);
    await expectDead(tokens);
    // A revoked bearer cannot log out again.
    const again = await t.fastify.inject({ method: 'POST', url: '/auth/logout', headers: bearer(tokens.access_token) });
    expectProblem(again, 401, 'token_revoked');
  });

  it('is idempotent for a dead or unknown refresh token', async () => {
    const { tokens } = await signUp(t.fastify);
    for (let i = 0; i < 2; i++) {
      const res = await t.fastify.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: tokens.refresh_token } });
      expect(res.statusCode, res.body).toBe(204);
    }
    const unknown = await t.fastify.inject({
      method: 'POST',
      url: '/auth/logout',
      payload: { refresh_token: `rt_${crypto.randomBytes(32).toString('base64url')}` },
    });
    expect(unknown.statusCode, unknown.body).toBe(204);
  });

  it('with no credential at all → 401 invalid_grant', async () => {
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/logout', payload: {} });
    expectProblem(res, 401, 'invalid_grant');
  });

  it('logout-all kills every session of the user and all their access tokens, not other users’', async () => {
    const { user, tokens: first } = await signUp(t.fastify);
    const second = await login(t.fastify, user.email, undefined, { remember: true });
    const third = await login(t.fastify, user.email);
    const stranger = await signUp(t.fastify);
    const refreshed = (await refresh(t.fastify, third.refresh_token)).json() as Tokens;
    expect(await listSessions(t.fastify, first.access_token)).toHaveLength(3);

    const res = await t.fastify.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(second.access_token) });
    expect(res.statusCode, res.body).toBe(204);
    expectClearedCookie(res, t.config.cookieName);

    for (const pair of [first, second, refreshed]) await expectDead(pair);
    expectProblem(await me(t.fastify, third.access_token), 401, 'token_revoked');
    expect((await me(t.fastify, stranger.tokens.access_token)).statusCode).toBe(200);
    expect((await refresh(t.fastify, stranger.tokens.refresh_token)).statusCode).toBe(200);

    // A later login works and lists only itself.
    t.clock.advance(SECOND);
    const fresh = await login(t.fastify, user.email);
    expect((await me(t.fastify, fresh.access_token)).statusCode).toBe(200);
    expect(await listSessions(t.fastify, fresh.access_token)).toHaveLength(1);
  });

  it('logout-all needs a bearer token', async () => {
    expectProblem(await t.fastify.inject({ method: 'POST', url: '/auth/logout-all' }), 401, 'invalid_token');
  });
});

describe('GET and DELETE /auth/sessions', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('lists the live sessions with their fields; current only for the caller’s', async () => {
    const user = await register(t.fastify);
    const phone = await t.fastify.inject({
      method: 'POST',
      url: '/auth/login',
      headers: { 'user-agent': 'PhoneApp/1.0' },
      remoteAddress: '203.0.113.7',
      payload: { email: user.email, password: user.password },
    });
    expect(phone.statusCode, phone.body).toBe(200);
    const phoneTokens = phone.json() as Tokens;
    t.clock.advance(SECOND);
    const laptop = await login(t.fastify, user.email);

    const sessions = await listSessions(t.fastify, laptop.access_token);
    expect(sessions).toHaveLength(2);
    for (const s of sessions) {
      expect(Object.keys(s).sort()).toEqual(['created_at', 'current', 'expires_at', 'id', 'ip', 'last_used_at', 'user_agent']);
      expect(s.id).toMatch(/^[0-9a-f-]{36}$/);
      for (const field of [s.created_at, s.last_used_at, s.expires_at]) expect(new Date(field).toISOString()).toBe(field);
    }
    const laptopSid = decodeJwt(laptop.access_token).payload.sid;
    const phoneSid = decodeJwt(phoneTokens.access_token).payload.sid;
    expect(sessions.filter((s) => s.current).map((s) => s.id)).toEqual([laptopSid]);
    const phoneView = sessions.find((s) => s.id === phoneSid)!;
    expect(phoneView).toMatchObject({ user_agent: 'PhoneApp/1.0', ip: '203.0.113.7', current: false });
    expect(Date.parse(phoneView.expires_at) - Date.parse(phoneView.created_at)).toBe(phoneTokens.refresh_token_expires_in * 1000);

    // last_used_at moves on refresh; from the phone's point of view, it is current.
    t.clock.advance(60 * SECOND);
    const phoneNext = (await refresh(t.fastify, phoneTokens.refresh_token)).json() as Tokens;
    const fromPhone = await listSessions(t.fastify, phoneNext.access_token);
    const phoneAgain = fromPhone.find((s) => s.id === phoneSid)!;
    expect(phoneAgain.current).toBe(true);
    expect(phoneAgain.last_used_at).toBe(new Date(t.clock.now()).toISOString());
    expect(phoneAgain.created_at).toBe(phoneView.created_at);
    expect(fromPhone.find((s) => s.id === laptopSid)?.current).toBe(false);
  });

  it('DELETE /auth/sessions/{id} → 204 and that session dies (refresh and access token)', async () => {
    const { user, tokens: mine } = await signUp(t.fastify);
    const other = await login(t.fastify, user.email);
    const otherSid = decodeJwt(other.access_token).payload.sid as string;

    const res = await t.fastify.inject({ method: 'DELETE', url: `/auth/sessions/${otherSid}`, headers: bearer(mine.access_token) });
    expect(res.statusCode, res.body).toBe(204);
    expectProblem(await refresh(t.fastify, other.refresh_token), 401, 'invalid_grant');
    expectProblem(await me(t.fastify, other.access_token), 401, 'token_revoked');
    expect((await listSessions(t.fastify, mine.access_token)).map((s) => s.id)).toEqual([decodeJwt(mine.access_token).payload.sid]);

    // Deleting it again: it is no longer a live session of ours.
    const again = await t.fastify.inject({ method: 'DELETE', url: `/auth/sessions/${otherSid}`, headers: bearer(mine.access_token) });
    expectProblem(again, 404, 'not_found');
  });

  it('another user’s session id → 404 not_found, like a random uuid, and it survives', async () => {
    const alice = await signUp(t.fastify);
    const bob = await signUp(t.fastify);
    const bobSid = decodeJwt(bob.tokens.access_token).payload.sid as string;

    const foreign = await t.fastify.inject({ method: 'DELETE', url: `/auth/sessions/${bobSid}`, headers: bearer(alice.tokens.access_token) });
    const random = await t.fastify.inject({
      method: 'DELETE',
      url: `/auth/sessions/${crypto.randomUUID()}`,
      headers: bearer(alice.tokens.access_token),
    });
    const a = expectProblem(foreign, 404, 'not_found');
    const b = expectProblem(random, 404, 'not_found');
    expect(a.detail).toBe(b.detail);
    expect((await me(t.fastify, bob.tokens.access_token)).statusCode).toBe(200);
    expect((await refresh(t.fastify, bob.tokens.refresh_token)).statusCode).toBe(200);
  });

  it('a non-uuid id → 400 validation_failed', async () => {
    const { tokens } = await signUp(t.fastify);
    for (const id of ['not-a-uuid', '123', `${crypto.randomUUID()}x`]) {
      const res = await t.fastify.inject({ method: 'DELETE', url: `/auth/sessions/${id}`, headers: bearer(tokens.access_token) });
      expectProblem(res, 400, 'validation_failed');
    }
  });

  it('both endpoints need a bearer token', async () => {
    expectProblem(await t.fastify.inject({ method: 'GET', url: '/auth/sessions' }), 401, 'invalid_token');
    expectProblem(await t.fastify.inject({ method: 'DELETE', url: `/auth/sessions/${crypto.randomUUID()}` }), 401, 'invalid_token');
  });
});
