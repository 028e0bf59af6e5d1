// Session lifetimes on the injected clock: idle expiry and its extension by refresh, the
// absolute cap, remember: false, and what the cookie's lifetime says about them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { expectProblem, login, me, refresh, register, type Tokens } from '../helpers/flows.ts';
import { cookieNamed, DAY, HOUR, listSessions, refreshWithCookie, SECOND } from './support.ts';

describe('session lifetimes (defaults: idle 7 d, absolute 30 d, remember: false 24 h)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const loginAs = async (extra: Record<string, unknown>) => {
    const user = await register(t.fastify);
    return { user, tokens: await login(t.fastify, user.email, undefined, extra) };
  };
  const refreshOk = async (token: string): Promise<Tokens> => {
    const res = await refresh(t.fastify, token);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as Tokens;
  };

  it('has the documented defaults', () => {
    expect(t.config.refreshIdleTtl).toBe(7 * 24 * 3600);
    expect(t.config.refreshAbsoluteTtl).toBe(30 * 24 * 3600);
    expect(t.config.refreshShortTtl).toBe(24 * 3600);
    expect(t.config.refreshGracePeriod).toBe(10);
  });

  it('an unused session dies after 7 d idle; a refresh pushes the idle deadline forward', async () => {
    const idle = await loginAs({ remember: true });
    const used = await loginAs({ remember: true });
    expect(idle.tokens.refresh_token_expires_in).toBe(7 * 24 * 3600);

    t.clock.advance(7 * DAY - SECOND);
    const extended = await refreshOk(used.tokens.refresh_token);
    expect(extended.refresh_token_expires_in).toBe(7 * 24 * 3600);

    t.clock.advance(2 * SECOND); // 7 d + 1 s after login
    expectProblem(await refresh(t.fastify, idle.tokens.refresh_token), 401, 'session_expired');
    const again = await refreshOk(extended.refresh_token);

    // Expired sessions are no longer listed; the extended one is.
    const sessions = await listSessions(t.fastify, again.access_token);
    expect(sessions).toHaveLength(1);

    // The extended session dies 7 d after its last use, not 7 d after login.
    t.clock.advance(7 * DAY + SECOND);
    expectProblem(await refresh(t.fastify, again.refresh_token), 401, 'session_expired');
  });

  it('expires exactly when refresh_token_expires_in said it would', async () => {
    const { tokens } = await loginAs({ remember: true });
    t.clock.advance(3 * DAY);
    const next = await refreshOk(tokens.refresh_token);
    t.clock.advance(next.refresh_token_expires_in * SECOND - 1);
    const last = await refreshOk(next.refresh_token);
    t.clock.advance(last.refresh_token_expires_in * SECOND);
    expectProblem(await refresh(t.fastify, last.refresh_token), 401, 'session_expired');
  });

  it('dies 30 d after login even when refreshed every 6 days', async () => {
    const { tokens } = await loginAs({ remember: true });
    let current = tokens;
    for (let day = 6; day <= 24; day += 6) {
      t.clock.advance(6 * DAY);
      current = await refreshOk(current.refresh_token);
      // Idle deadline pushed forward, but never past the absolute one.
      expect(current.refresh_token_expires_in).toBe(Math.min(7, 30 - day) * 24 * 3600);
    }
    expect(current.refresh_token_expires_in).toBe(6 * 24 * 3600);
    t.clock.advance(6 * DAY - SECOND); // 30 d − 1 s
    current = await refreshOk(current.refresh_token);
    expect(current.refresh_token_expires_in).toBe(1);
    t.clock.advance(SECOND); // 30 d
    expectProblem(await refresh(t.fastify, current.refresh_token), 401, 'session_expired');
  });

  it('remember: false lives at most 24 h, whatever the refreshes', async () => {
    const { tokens } = await loginAs({ remember: false });
    expect(tokens.refresh_token_expires_in).toBe(24 * 3600);
    t.clock.advance(12 * HOUR);
    const next = await refreshOk(tokens.refresh_token);
    expect(next.refresh_token_expires_in).toBe(12 * 3600);
    t.clock.advance(12 * HOUR);
    expectProblem(await refresh(t.fastify, next.refresh_token), 401, 'session_expired');
  });

  it('a refresh of an expired session does not bring it back and the session is not listed', async () => {
    const { tokens } = await loginAs({ remember: false });
    const other = await loginAs({ remember: true });
    t.clock.advance(24 * HOUR);
    expectProblem(await refresh(t.fastify, tokens.refresh_token), 401, 'session_expired');
    expectProblem(await refresh(t.fastify, tokens.refresh_token), 401, 'session_expired');
    const fresh = await refreshOk(other.tokens.refresh_token);
    expect((await me(t.fastify, fresh.access_token)).statusCode).toBe(200);
  });
});

describe('cookie lifetime', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const cookieLogin = async (remember: boolean) => {
    const user = await register(t.fastify);
    const res = await t.fastify.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { email: user.email, password: user.password, remember, token_delivery: 'cookie' },
    });
    expect(res.statusCode, res.body).toBe(200);
    return res;
  };

  it('remember: false → a browser-session cookie (no Max-Age, no Expires), also after a refresh', async () => {
    const res = await cookieLogin(false);
    const body = res.json() as Tokens;
    expect(body.refresh_token_expires_in).toBe(24 * 3600);
    const cookie = cookieNamed(res, t.config.cookieName);
    expect(cookie.attrs.has('max-age')).toBe(false);
    expect(cookie.attrs.has('expires')).toBe(false);

    t.clock.advance(HOUR);
    const refreshed = await refreshWithCookie(t.fastify, t.config.cookieName, cookie.value);
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const next = cookieNamed(refreshed, t.config.cookieName);
    expect(next.value).not.toBe(cookie.value);
    expect(next.attrs.has('max-age')).toBe(false);
    expect(next.attrs.has('expires')).toBe(false);
  });

  it('remember: true → Max-Age equal to refresh_token_expires_in, kept in step on refresh', async () => {
    const res = await cookieLogin(true);
    const body = res.json() as Tokens;
    expect(body.refresh_token).toBeUndefined();
    const cookie = cookieNamed(res, t.config.cookieName);
    expect(Number(cookie.attrs.get('max-age'))).toBe(body.refresh_token_expires_in);
    expect(body.refresh_token_expires_in).toBe(7 * 24 * 3600);

    // Near the absolute cap the cookie shrinks with the session.
    let value = cookie.value;
    let last = body;
    for (let i = 0; i < 4; i++) {
      t.clock.advance(6 * DAY);
      const refreshed = await refreshWithCookie(t.fastify, t.config.cookieName, value);
      expect(refreshed.statusCode, refreshed.body).toBe(200);
      last = refreshed.json() as Tokens;
      expect(last.refresh_token).toBeUndefined();
      const next = cookieNamed(refreshed, t.config.cookieName);
      expect(Number(next.attrs.get('max-age'))).toBe(last.refresh_token_expires_in);
      value = next.value;
    }
    expect(last.refresh_token_expires_in).toBe(6 * 24 * 3600);
  });
});
