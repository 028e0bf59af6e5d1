// The data lifecycle of sessions: sealed successors do not outlive the grace window, rotated
// token hashes and dead sessions are purged after SESSION_RETENTION (reuse detection keeps
// working until then), in bounded batches, one replica at a time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSuccessor } from '../../src/sessions/refresh-token.ts';
import { PURGE_LOCK_CLASS, purgeSessions, runPurge, SessionPurger } from '../../src/sessions/purge.ts';
import { createTestApp, captureLogger, type TestApp } from '../helpers/app.ts';
import { decodeJwt, expectProblem, refresh, signUp, type Tokens } from '../helpers/flows.ts';
import { HOUR, SECOND, sessionRow, tokenRow } from './support.ts';

const RETENTION_SECONDS = 2 * 3600;

describe('session data lifecycle', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ db: 'postgres', env: { SESSION_RETENTION: String(RETENTION_SECONDS) } });
  });
  afterAll(() => t.close());

  const settings = () => ({ retentionSeconds: t.config.sessionRetention, graceSeconds: t.config.refreshGracePeriod });
  const purge = () => purgeSessions(t.db, t.clock.now(), settings());

  /** Logs in and rotates `times` times, a second apart; returns every refresh token, oldest first. */
  async function rotateChain(times: number): Promise<{ tokens: string[]; sid: string; last: Tokens }> {
    const { tokens: first } = await signUp(t.fastify);
    const tokens = [first.refresh_token];
    let last = first;
    for (let i = 0; i < times; i++) {
      t.clock.advance(SECOND);
      const res = await refresh(t.fastify, tokens.at(-1)!);
      expect(res.statusCode, res.body).toBe(200);
      last = res.json() as Tokens;
      tokens.push(last.refresh_token);
    }
    return { tokens, sid: decodeJwt(first.access_token).payload.sid as string, last };
  }

  /** Tries every known token on every stored seal of the session: what a thief with a database copy would do. */
  async function openableSeals(sid: string, tokens: string[]): Promise<number> {
    const rows = await t.db.query<{ successor_sealed: string | null }>('SELECT successor_sealed FROM refresh_tokens WHERE session_id = $1', [sid]);
    let opened = 0;
    for (const row of rows) {
      if (row.successor_sealed === null) continue;
      if (tokens.some((token) => openSuccessor(token, row.successor_sealed!) !== undefined)) opened++;
    }
    return opened;
  }

  it('rotate 10 times, pass the grace window: the purge leaves no row of the session able to open a successor', async () => {
    const { tokens, sid } = await rotateChain(10);
    expect(await openableSeals(sid, tokens)).toBe(10); // within the grace window, all of them (concurrent tabs)
    t.clock.advance((t.config.refreshGracePeriod + 1) * SECOND);
    const report = await purge();
    expect(report.scrubbed).toBeGreaterThanOrEqual(10);
    expect(await openableSeals(sid, tokens)).toBe(0);
    const sealed = await t.db.query('SELECT 1 FROM refresh_tokens WHERE session_id = $1 AND successor_sealed IS NOT NULL', [sid]);
    expect(sealed).toHaveLength(0);
  });

  it('rotate 10 times, pass the grace window: the next statement on the session scrubs them all', async () => {
    const { tokens, sid, last } = await rotateChain(10);
    t.clock.advance((t.config.refreshGracePeriod + 1) * SECOND);
    const res = await refresh(t.fastify, last.refresh_token);
    expect(res.statusCode, res.body).toBe(200);
    const next = (res.json() as Tokens).refresh_token;
    // Only the token rotated just now keeps its seal (its grace window has just begun).
    expect(await openableSeals(sid, [...tokens, next])).toBe(1);
    expect(openSuccessor(last.refresh_token, (await tokenRow(t.db, last.refresh_token))!.successor_sealed as string)).toBe(next);
    // Logout (a revocation) scrubs even that one: a dead session has no successor to hand out.
    const logout = await t.fastify.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: next } });
    expect(logout.statusCode, logout.body).toBe(204);
    expect(await openableSeals(sid, [...tokens, next])).toBe(0);
  });

  it('a grace refresh scrubs the seals older than the window and still hands out the current token', async () => {
    const { tokens, sid } = await rotateChain(3);
    t.clock.advance((t.config.refreshGracePeriod + 1) * SECOND);
    const fresh = await refresh(t.fastify, tokens.at(-1)!);
    const current = (fresh.json() as Tokens).refresh_token;
    t.clock.advance(SECOND);
    // The previous token again, within its grace window: the same current token.
    const again = await refresh(t.fastify, tokens.at(-1)!);
    expect(again.statusCode, again.body).toBe(200);
    expect((again.json() as Tokens).refresh_token).toBe(current);
    expect(await openableSeals(sid, [...tokens, current])).toBe(1);
  });

  it('reuse detection works for a token rotated within SESSION_RETENTION, and the token is forgotten after it', async () => {
    const within = await rotateChain(2);
    t.clock.advance(HOUR); // < 2 h of retention
    await purge();
    expect(await tokenRow(t.db, within.tokens[0]!)).toBeDefined();
    expectProblem(await refresh(t.fastify, within.tokens[0]!), 401, 'refresh_token_reused');
    expect((await sessionRow(t.db, within.sid))?.revoked_reason).toBe('refresh_token_reused');

    const beyond = await rotateChain(2);
    t.clock.advance(RETENTION_SECONDS * SECOND + SECOND);
    const report = await purge();
    expect(report.tokensDeleted).toBeGreaterThanOrEqual(2);
    expect(await tokenRow(t.db, beyond.tokens[0]!)).toBeUndefined();
    // Unknown now, no longer recognised as reuse: the session lives on with its current token.
    expectProblem(await refresh(t.fastify, beyond.tokens[0]!), 401, 'invalid_grant');
    expect((await refresh(t.fastify, beyond.tokens.at(-1)!)).statusCode).toBe(200);
  });

  it('deletes sessions dead for longer than SESSION_RETENTION with their tokens, and nothing alive', async () => {
    const dead = await rotateChain(1);
    const logout = await t.fastify.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: dead.last.refresh_token } });
    expect(logout.statusCode).toBe(204);
    const expired = await rotateChain(0); // remember: false, idle 7 d → expires after 24 h
    const alive = await signUp(t.fastify, { remember: true });
    const aliveSid = decodeJwt(alive.tokens.access_token).payload.sid as string;

    t.clock.advance(HOUR);
    await purge();
    expect(await sessionRow(t.db, dead.sid)).toBeDefined(); // dead for an hour: kept (audit, reuse)

    // Keep the remembered session in use while the others age past retention.
    let current = alive.tokens.refresh_token;
    for (let i = 0; i < 4; i++) {
      t.clock.advance(12 * HOUR);
      current = ((await refresh(t.fastify, current)).json() as Tokens).refresh_token;
    }
    const report = await purge();
    expect(report.sessionsDeleted).toBeGreaterThanOrEqual(2);
    for (const sid of [dead.sid, expired.sid]) {
      expect(await sessionRow(t.db, sid)).toBeUndefined();
      expect(await t.db.query('SELECT 1 FROM refresh_tokens WHERE session_id = $1', [sid])).toHaveLength(0);
    }
    expect(await sessionRow(t.db, aliveSid)).toBeDefined();
    expect((await refresh(t.fastify, current)).statusCode).toBe(200);
  });

  it('works in bounded batches: a run stops at maxBatches and the next one carries on', async () => {
    for (let i = 0; i < 12; i++) await rotateChain(1);
    t.clock.advance(RETENTION_SECONDS * SECOND + 25 * HOUR);
    const first = await purgeSessions(t.db, t.clock.now(), { ...settings(), batchSize: 5, maxBatches: 2 });
    expect(first.batches).toBeLessThanOrEqual(2 + 2); // the budget, plus one (cheap) check of each earlier step
    expect(first.complete).toBe(false);
    let total = first.sessionsDeleted + first.tokensDeleted;
    for (let runs = 0; runs < 50; runs++) {
      const next = await purgeSessions(t.db, t.clock.now(), { ...settings(), batchSize: 5, maxBatches: 2 });
      total += next.sessionsDeleted + next.tokensDeleted;
      if (next.complete) break;
    }
    expect(total).toBeGreaterThanOrEqual(12 + 12); // 12 rotated tokens, 12 sessions (each with its current token)
    expect((await purge()).sessionsDeleted).toBe(0);
  });

  it('one replica purges at a time: a run that finds the lock taken does nothing', async () => {
    const other = t.testDb.openAnother();
    let release!: () => void;
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = other.withAdvisoryLock(PURGE_LOCK_CLASS, async () => {
      locked();
      await new Promise<void>((resolve) => (release = resolve));
    });
    await isLocked;
    expect(await runPurge(t.db, t.clock, settings())).toEqual({ acquired: false });
    release();
    await holder;
    expect((await runPurge(t.db, t.clock, settings())).acquired).toBe(true);
  });

  it('two replicas on a timer over one backlog: each row is purged once, no errors', async () => {
    for (let i = 0; i < 10; i++) await rotateChain(2);
    t.clock.advance(RETENTION_SECONDS * SECOND + 25 * HOUR);
    const logs = [captureLogger(), captureLogger()];
    const purgers = [t.db, t.testDb.openAnother()].map(
      (db, i) => new SessionPurger(db, t.clock, logs[i]!.logger, { ...settings(), batchSize: 3, intervalSeconds: 0 }),
    );
    await Promise.all(purgers.map((p) => p.runOnce()));
    await Promise.all(purgers.map((p) => p.runOnce()));
    const lines = logs.flatMap((l) => l.lines.map((line) => JSON.parse(line) as Record<string, number | string>));
    expect(lines.filter((l) => l.event === 'sessions.purge_failed')).toEqual([]);
    const deleted = lines.filter((l) => l.event === 'sessions.purged').reduce((sum, l) => sum + Number(l.sessions_deleted), 0);
    expect(deleted).toBeGreaterThanOrEqual(10);
    expect(await t.db.query('SELECT 1 FROM sessions WHERE idle_expires_at < $1', [new Date(t.clock.now() - RETENTION_SECONDS * 1000)])).toEqual([]);
    await Promise.all(purgers.map((p) => p.close()));
  });
});
