// Rotation, the grace window for replays, reuse (theft) detection and unknown tokens.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError } from '../../src/errors.ts';
import type { DenylistEntry } from '../../src/revocation/denylist.ts';
import { MemoryDenylist } from '../../src/revocation/memory-denylist.ts';
import { ManualClock } from '../../src/clock.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { decodeJwt, expectProblem, login, me, refresh, signUp, type Tokens } from '../helpers/flows.ts';
import { HOUR, listSessions, sessionRow, SECOND, tokenRow } from './support.ts';

describe('refresh-token rotation', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const refreshOk = async (token: string): Promise<Tokens> => {
    const res = await refresh(t.fastify, token);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as Tokens;
  };

  it('returns a new refresh token and a new access token for the same session, and marks the old one rotated', async () => {
    const { user, tokens } = await signUp(t.fastify);
    t.clock.advance(SECOND);
    const next = await refreshOk(tokens.refresh_token);

    expect(next.token_type).toBe('Bearer');
    expect(next.refresh_token).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
    expect(next.refresh_token).not.toBe(tokens.refresh_token);
    expect(next.access_token).not.toBe(tokens.access_token);
    expect(next.expires_in).toBe(t.config.accessTokenTtl);

    const before = decodeJwt(tokens.access_token).payload;
    const after = decodeJwt(next.access_token).payload;
    expect(after.sid).toBe(before.sid);
    expect(after.sub).toBe(user.id);
    expect(after.jti).not.toBe(before.jti);
    expect((await me(t.fastify, next.access_token)).statusCode).toBe(200);

    // The old token is kept (as a hash) and marked rotated, with its successor sealed.
    const old = await tokenRow(t.db, tokens.refresh_token);
    expect(old?.rotated_at).not.toBeNull();
    expect(typeof old?.successor_sealed).toBe('string');
    const current = await tokenRow(t.db, next.refresh_token);
    expect(current?.rotated_at).toBeNull();
    expect(current?.generation).toBe((old?.generation as number) + 1);

    // The database never holds a usable token.
    const dump = JSON.stringify(await t.db.query('SELECT * FROM refresh_tokens WHERE session_id = $1', [before.sid]));
    expect(dump).not.toContain(tokens.refresh_token);
    expect(dump).not.toContain(next.refresh_token);
  });

  it('refresh_token_expires_in tells the truth (remember: false → 24 h absolute, counted down)', async () => {
    const { tokens } = await signUp(t.fastify);
    expect(tokens.refresh_token_expires_in).toBe(t.config.refreshShortTtl);
    t.clock.advance(HOUR);
    const next = await refreshOk(tokens.refresh_token);
    expect(next.refresh_token_expires_in).toBe(t.config.refreshShortTtl - 3600);

    const [session] = await listSessions(t.fastify, next.access_token);
    const expiresAt = Date.parse(session!.expires_at);
    expect(expiresAt - t.clock.now()).toBe(next.refresh_token_expires_in * 1000);
  });

  it('refresh_token_expires_in tells the truth (remember: true → idle window, pushed forward)', async () => {
    const { tokens } = await signUp(t.fastify, { remember: true });
    expect(tokens.refresh_token_expires_in).toBe(t.config.refreshIdleTtl);
    t.clock.advance(HOUR);
    const next = await refreshOk(tokens.refresh_token);
    expect(next.refresh_token_expires_in).toBe(t.config.refreshIdleTtl);
  });
});

describe('the grace window', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('a replay 5 s after rotation gets the current token and revokes nothing', async () => {
    const { tokens } = await signUp(t.fastify);
    const b = (await refresh(t.fastify, tokens.refresh_token)).json() as Tokens;
    t.clock.advance(5 * SECOND);

    const replay = await refresh(t.fastify, tokens.refresh_token);
    expect(replay.statusCode, replay.body).toBe(200);
    const replayed = replay.json() as Tokens;
    expect(replayed.refresh_token).toBe(b.refresh_token);
    expect((await me(t.fastify, replayed.access_token)).statusCode).toBe(200);

    // Nothing was revoked: every access token works and the current token still rotates.
    for (const access of [tokens.access_token, b.access_token, replayed.access_token]) {
      expect((await me(t.fastify, access)).statusCode).toBe(200);
    }
    const c = await refresh(t.fastify, b.refresh_token);
    expect(c.statusCode, c.body).toBe(200);
    expect((c.json() as Tokens).refresh_token).not.toBe(b.refresh_token);
    const sid = decodeJwt(tokens.access_token).payload.sid;
    expect(t.logs().some((l) => l.event === 'session.reuse_detected' && l.session_id === sid)).toBe(false);
  });

  it('follows a chain: A→B→C rotated quickly, A (and B) presented within the window get C', async () => {
    const { tokens: a } = await signUp(t.fastify);
    const b = (await refresh(t.fastify, a.refresh_token)).json() as Tokens;
    t.clock.advance(SECOND);
    const c = (await refresh(t.fastify, b.refresh_token)).json() as Tokens;
    expect(new Set([a.refresh_token, b.refresh_token, c.refresh_token]).size).toBe(3);
    t.clock.advance(3 * SECOND);

    const fromA = await refresh(t.fastify, a.refresh_token);
    expect(fromA.statusCode, fromA.body).toBe(200);
    expect((fromA.json() as Tokens).refresh_token).toBe(c.refresh_token);
    const fromB = await refresh(t.fastify, b.refresh_token);
    expect(fromB.statusCode, fromB.body).toBe(200);
    expect((fromB.json() as Tokens).refresh_token).toBe(c.refresh_token);

    const d = await refresh(t.fastify, c.refresh_token);
    expect(d.statusCode, d.body).toBe(200);
  });

  it('the window is inclusive at exactly REFRESH_GRACE_PERIOD and closed one millisecond later', async () => {
    const { tokens: a } = await signUp(t.fastify);
    const b = (await refresh(t.fastify, a.refresh_token)).json() as Tokens;
    t.clock.advance(t.config.refreshGracePeriod * SECOND);
    const atEdge = await refresh(t.fastify, a.refresh_token);
    expect(atEdge.statusCode, atEdge.body).toBe(200);
    expect((atEdge.json() as Tokens).refresh_token).toBe(b.refresh_token);
    t.clock.advance(1);
    expectProblem(await refresh(t.fastify, a.refresh_token), 401, 'refresh_token_reused');
  });
});

describe('reuse after the grace window', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('answers refresh_token_reused and kills the whole session, its current token and its access tokens', async () => {
    const { user, tokens: a } = await signUp(t.fastify);
    const other = await login(t.fastify, user.email); // another session of the same user
    const b = (await refresh(t.fastify, a.refresh_token)).json() as Tokens;
    t.clock.advance(2 * SECOND);
    const c = (await refresh(t.fastify, b.refresh_token)).json() as Tokens;
    const sid = decodeJwt(c.access_token).payload.sid as string;

    t.clock.advance((t.config.refreshGracePeriod + 1) * SECOND);
    const reused = await refresh(t.fastify, a.refresh_token);
    expectProblem(reused, 401, 'refresh_token_reused');

    // The current token of the session is dead too, and so is every access token of it.
    const current = await refresh(t.fastify, c.refresh_token);
    expect(current.statusCode).toBe(401);
    expect(['invalid_grant', 'refresh_token_reused']).toContain((current.json() as { code: string }).code);
    for (const access of [a.access_token, b.access_token, c.access_token]) {
      const res = await me(t.fastify, access);
      expectProblem(res, 401, 'token_revoked');
      expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    }
    // Presenting the stolen token again changes nothing and still fails.
    expect((await refresh(t.fastify, a.refresh_token)).statusCode).toBe(401);

    const row = await sessionRow(t.db, sid);
    expect(row?.revoked_at).not.toBeNull();
    expect(row?.revoked_reason).toBe('refresh_token_reused');

    // The user's other session is untouched.
    expect((await me(t.fastify, other.access_token)).statusCode).toBe(200);
    expect((await refresh(t.fastify, other.refresh_token)).statusCode).toBe(200);

    // A security event was logged, without any token value anywhere in the logs.
    const events = t.logs().filter((l) => l.event === 'session.reuse_detected');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ session_id: sid, user_id: user.id });
    const text = t.logText();
    for (const secret of [a, b, c, other].flatMap((p) => [p.refresh_token, p.access_token])) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(secret.slice(3, 30));
    }
  });
});

/** A denylist whose shared store can be switched off, as Redis can go away. */
class FlakyDenylist extends MemoryDenylist {
  failing = false;
  override async revoke(entry: DenylistEntry): Promise<void> {
    if (this.failing) throw new AuthError('service_unavailable', 'The revocation store is unavailable');
    return super.revoke(entry);
  }
}

describe('reuse while the denylist store is down', () => {
  let t: TestApp;
  let denylist: FlakyDenylist;
  beforeAll(async () => {
    const clock = new ManualClock(Date.now());
    denylist = new FlakyDenylist(clock);
    t = await createTestApp({ clock, denylist });
  });
  afterAll(() => t.close());

  it('still records the security event, and the session stays revoked in SQL', async () => {
    const { user, tokens: a } = await signUp(t.fastify);
    const b = (await refresh(t.fastify, a.refresh_token)).json() as Tokens;
    const sid = decodeJwt(b.access_token).payload.sid;
    t.clock.advance((t.config.refreshGracePeriod + 1) * SECOND);

    denylist.failing = true;
    expectProblem(await refresh(t.fastify, a.refresh_token), 503, 'service_unavailable');
    denylist.failing = false;

    const events = t.logs().filter((l) => l.event === 'session.reuse_detected');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ session_id: sid, user_id: user.id });
    expect(t.logText()).not.toContain(a.refresh_token);
    expectProblem(await refresh(t.fastify, b.refresh_token), 401, 'invalid_grant');
  });
});

describe('tokens that were never issued', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  const unknown = [
    `rt_${crypto.randomBytes(32).toString('base64url')}`,
    'junk',
    'rt_',
    `rt_${'A'.repeat(44)}`,
    `xx_${crypto.randomBytes(32).toString('base64url')}`,
    `rt_${'!'.repeat(43)}`,
    'x'.repeat(512),
  ];

  it.each(unknown)('%s → 401 invalid_grant, nothing changes', async (token) => {
    const { tokens } = await signUp(t.fastify);
    const sid = decodeJwt(tokens.access_token).payload.sid as string;
    const rowsBefore = await t.db.query('SELECT token_hash, rotated_at FROM refresh_tokens WHERE session_id = $1', [sid]);

    expectProblem(await refresh(t.fastify, token), 401, 'invalid_grant');

    expect(await t.db.query('SELECT token_hash, rotated_at FROM refresh_tokens WHERE session_id = $1', [sid])).toEqual(rowsBefore);
    expect((await sessionRow(t.db, sid))?.revoked_at).toBeNull();
    expect((await me(t.fastify, tokens.access_token)).statusCode).toBe(200);
    const next = await refresh(t.fastify, tokens.refresh_token);
    expect(next.statusCode, next.body).toBe(200);
    expect(await listSessions(t.fastify, (next.json() as Tokens).access_token)).toHaveLength(1);
  });

  it('a body without a usable refresh_token is a validation error, not a grant check', async () => {
    const res = await t.fastify.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 42 } });
    expectProblem(res, 400, 'validation_failed');
  });
});
