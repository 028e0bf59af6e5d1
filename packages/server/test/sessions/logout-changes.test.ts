// Ending a session publishes a revocation and writes an audit line once, when it changes
// something; a rotated refresh token presented to logout (or /oauth/revoke) after the grace
// window is reuse, exactly as at /auth/refresh.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DenylistEntry } from '../../src/revocation/denylist.ts';
import { MemoryDenylist } from '../../src/revocation/memory-denylist.ts';
import { ManualClock } from '../../src/clock.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { decodeJwt, expectProblem, me, refresh, signUp, type Tokens } from '../helpers/flows.ts';
import { expectClearedCookie, SECOND, sessionRow, XHR } from './support.ts';

/** Counts what is published, so a test can see a revocation written twice. */
class CountingDenylist extends MemoryDenylist {
  readonly written: DenylistEntry[] = [];
  override async revoke(entry: DenylistEntry): Promise<void> {
    this.written.push(entry);
    return super.revoke(entry);
  }
}

const CLIENT = { authorization: `Basic ${Buffer.from('rs:secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' };

describe('ending a session changes things once', () => {
  let t: TestApp;
  const clock = new ManualClock(Date.now());
  const denylist = new CountingDenylist(clock);
  beforeAll(async () => {
    t = await createTestApp({ clock, denylist, env: { INTROSPECTION_CLIENTS: 'rs:secret' } });
  });
  afterAll(() => t.close());

  const sidOf = (tokens: Tokens) => decodeJwt(tokens.access_token).payload.sid as string;
  const publishedFor = (sid: string) => denylist.written.filter((e) => e.kind === 'session' && e.id === sid);
  const eventsFor = (sid: string, event: string) => t.logs().filter((l) => l.event === event && l.session_id === sid);
  const logout = (refreshToken: string) => t.fastify.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: refreshToken } });
  const revoke = (token: string) =>
    t.fastify.inject({ method: 'POST', url: '/oauth/revoke', headers: CLIENT, payload: new URLSearchParams({ token }).toString() });

  it('logging out again with a dead refresh token publishes nothing and audits nothing', async () => {
    const { tokens } = await signUp(t.fastify);
    const sid = sidOf(tokens);
    for (let i = 0; i < 3; i++) expect((await logout(tokens.refresh_token)).statusCode).toBe(204);
    expect(publishedFor(sid)).toHaveLength(1);
    expect(eventsFor(sid, 'session.revoked')).toHaveLength(1);
  });

  it('revoking (RFC 7009) a dead refresh token again publishes nothing and audits nothing', async () => {
    const { tokens } = await signUp(t.fastify);
    const sid = sidOf(tokens);
    for (let i = 0; i < 3; i++) expect((await revoke(tokens.refresh_token)).statusCode).toBe(200);
    expect(publishedFor(sid)).toHaveLength(1);
    expect(eventsFor(sid, 'session.revoked')).toHaveLength(1);
    expect(eventsFor(sid, 'session.revoked')[0]).toMatchObject({ reason: 'revoked_by:rs' });
  });

  it('a bearer logout or a session delete of an already revoked session changes nothing either', async () => {
    const { tokens } = await signUp(t.fastify);
    const sid = sidOf(tokens);
    expect((await logout(tokens.refresh_token)).statusCode).toBe(204);
    await t.app.auth.endSession(sid, 'revoked_by_operator', { userAgent: null, ip: null });
    expect(publishedFor(sid)).toHaveLength(1);
    expect(eventsFor(sid, 'session.revoked')).toHaveLength(1);
  });

  it('a rotated refresh token presented to /auth/logout after the grace window is reuse, as at /auth/refresh', async () => {
    const { tokens } = await signUp(t.fastify);
    const sid = sidOf(tokens);
    const next = (await refresh(t.fastify, tokens.refresh_token)).json() as Tokens;
    clock.advance((t.config.refreshGracePeriod + 1) * SECOND);
    const res = await logout(tokens.refresh_token);
    expectProblem(res, 401, 'refresh_token_reused');
    expect((await sessionRow(t.db, sid))?.revoked_reason).toBe('refresh_token_reused');
    expect(t.logs().filter((l) => l.event === 'session.reuse_detected' && l.session_id === sid && l.level === 40)).toHaveLength(1);
    expectProblem(await me(t.fastify, next.access_token), 401, 'token_revoked');
    expectProblem(await refresh(t.fastify, next.refresh_token), 401, 'invalid_grant');
    // Presented again: the session is already dead; nothing more happens.
    expect((await logout(tokens.refresh_token)).statusCode).toBe(204);
    expect(publishedFor(sid)).toHaveLength(1);
    expect(t.logs().filter((l) => l.event === 'session.reuse_detected' && l.session_id === sid)).toHaveLength(1);
  });

  it('within the grace window, a rotated token still simply logs the session out', async () => {
    const { tokens } = await signUp(t.fastify);
    const sid = sidOf(tokens);
    await refresh(t.fastify, tokens.refresh_token);
    clock.advance(SECOND);
    expect((await logout(tokens.refresh_token)).statusCode).toBe(204);
    expect((await sessionRow(t.db, sid))?.revoked_reason).toBe('logout');
    expect(t.logs().filter((l) => l.event === 'session.reuse_detected' && l.session_id === sid)).toHaveLength(0);
  });

  it('a cookie logout with a reused token clears the cookie', async () => {
    const { tokens } = await signUp(t.fastify);
    await refresh(t.fastify, tokens.refresh_token);
    clock.advance((t.config.refreshGracePeriod + 1) * SECOND);
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/logout', cookies: { [t.config.cookieName]: tokens.refresh_token }, headers: XHR });
    expectProblem(res, 401, 'refresh_token_reused');
    expectClearedCookie(res, t.config.cookieName);
  });

  it('/oauth/revoke of a rotated token after the grace window answers 200 and detects reuse', async () => {
    const { tokens } = await signUp(t.fastify);
    const sid = sidOf(tokens);
    await refresh(t.fastify, tokens.refresh_token);
    clock.advance((t.config.refreshGracePeriod + 1) * SECOND);
    expect((await revoke(tokens.refresh_token)).statusCode).toBe(200);
    expect((await sessionRow(t.db, sid))?.revoked_reason).toBe('refresh_token_reused');
    expect(t.logs().filter((l) => l.event === 'session.reuse_detected' && l.session_id === sid)).toHaveLength(1);
    expect(publishedFor(sid)).toHaveLength(1);
  });
});
