// DELETE /auth/account: the user and everything of theirs goes, every token dies, and the
// address can register again. (Across processes and the resource service: e2e/account-recovery.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDenylist } from '../../src/revocation/memory-denylist.ts';
import { seedDenylistFromSql } from '../../src/revocation/seed-from-sql.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, decodeJwt, expectProblem, login, me, PASSWORD, refresh, register, signUp } from '../helpers/flows.ts';

describe('account deletion', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  const remove = (accessToken: string | undefined, payload: unknown) =>
    t.fastify.inject({ method: 'DELETE', url: '/auth/account', payload: payload as object, headers: accessToken ? bearer(accessToken) : {} });
  const count = async (sql: string, id: string) => (await t.db.query<{ n: number }>(sql, [id]))[0]!.n;

  it('asks for the password again', async () => {
    const { tokens } = await signUp(t.fastify);
    const wrong = expectProblem(await remove(tokens.access_token, { password: 'not the password' }), 401, 'invalid_credentials');
    expect(JSON.stringify(wrong)).toContain('"field":"password"');
    expectProblem(await remove(tokens.access_token, {}), 400, 'validation_failed');
    expectProblem(await remove(undefined, { password: PASSWORD }), 401, 'invalid_token');
    expect((await me(t.fastify, tokens.access_token)).statusCode).toBe(200);
  });

  it('deletes the user, sessions, links and mail records; every token dies; the address registers again', async () => {
    const { user, tokens } = await signUp(t.fastify);
    const other = await login(t.fastify, user.email);
    await t.fastify.inject({ method: 'POST', url: '/auth/password/forgot', payload: { email: user.email } });
    await t.app.mail.drainOnce();

    const res = await remove(tokens.access_token, { password: PASSWORD });
    expect(res.statusCode, res.body).toBe(204);
    expect(String(res.headers['set-cookie'])).toMatch(/tessera_refresh=;/);

    for (const pair of [tokens, other]) {
      expectProblem(await me(t.fastify, pair.access_token), 401, 'token_revoked');
      expectProblem(await refresh(t.fastify, pair.refresh_token), 401, 'invalid_grant');
    }
    expectProblem(await t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } }), 401, 'invalid_credentials');
    for (const table of ['users WHERE id', 'sessions WHERE user_id', 'mail_tokens WHERE user_id', 'mail_outbox WHERE user_id']) {
      expect(await count(`SELECT count(*)::int AS n FROM ${table} = $1`, user.id), table).toBe(0);
    }
    expect(await count('SELECT count(*)::int AS n FROM deleted_users WHERE user_id = $1', user.id)).toBe(1);

    const again = await register(t.fastify, user.email);
    expect(again.id).not.toBe(user.id);
    const fresh = await login(t.fastify, user.email);
    expect((await me(t.fastify, fresh.access_token)).json()).toMatchObject({ id: again.id, email_verified: false });

    const audit = t.logs().find((l) => l.event === 'account.deleted' && l.user_id === user.id);
    expect(audit).toMatchObject({ by: 'user', session_id: decodeJwt(tokens.access_token).payload.sid, sessions_revoked: 2 });
  });

  it('a replica that restarts with an empty denylist still refuses the deleted account’s tokens', async () => {
    const { tokens } = await signUp(t.fastify);
    expect((await remove(tokens.access_token, { password: PASSWORD })).statusCode).toBe(204);
    // The sessions went with the user; only the tombstone tells a fresh replica.
    const restarted = await createTestApp({ db: t.testDb, clock: t.clock, keysDir: t.config.keysDir, denylist: new MemoryDenylist(t.clock) });
    const sessions = () => restarted.fastify.inject({ method: 'GET', url: '/auth/sessions', headers: bearer(tokens.access_token) });
    try {
      // Without the seed the signature alone would let the token through on a route that needs no user row.
      expect((await sessions()).statusCode).toBe(200);
      await seedDenylistFromSql(t.db, restarted.denylist, t.clock.now(), t.config.accessTokenTtl);
      expectProblem(await sessions(), 401, 'token_revoked');
    } finally {
      await restarted.close();
    }
  });

  it('a login racing the deletion either is ended by it or finds no user', async () => {
    const user = await register(t.fastify);
    const { access_token } = await login(t.fastify, user.email);
    const [, raced] = await Promise.all([remove(access_token, { password: PASSWORD }), t.fastify.inject({ method: 'POST', url: '/auth/login', payload: { email: user.email, password: PASSWORD } })]);
    if (raced.statusCode === 200) {
      const pair = raced.json() as { access_token: string; refresh_token: string };
      expect((await me(t.fastify, pair.access_token)).statusCode).toBe(401);
      expect((await refresh(t.fastify, pair.refresh_token)).statusCode).toBe(401);
    } else {
      expect(raced.statusCode).toBe(401);
    }
    expect(await count('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', user.id)).toBe(0);
  });
});
