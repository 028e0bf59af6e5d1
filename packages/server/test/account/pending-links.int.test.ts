// Two replicas on one PostgreSQL schema: replica B is changing the password (inside the
// very function every password path uses) while replica A is asked to confirm an email
// change whose link was minted before. Once B's change commits, A must refuse the link
// (and not deadlock on the way).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storePasswordAndEndSessions } from '../../src/users/password-change.ts';
import { userStore } from '../../src/users/user-store.ts';
import { createTestApp, type TestApp } from '../helpers/app.ts';
import { bearer, expectProblem, PASSWORD, signUp, uniqueEmail } from '../helpers/flows.ts';
import { FileMailbox } from '../helpers/mailbox.ts';

describe('an email change link against a password change on another replica (PostgreSQL)', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await createTestApp({ db: 'postgres' });
    b = await createTestApp({ db: { ...a.testDb, db: a.testDb.openAnother() }, clock: a.clock });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  /** Resolves once the backend `pid` holds a lock some other session waits for. */
  async function untilSomeoneWaitsOn(pid: number): Promise<void> {
    for (;;) {
      const rows = await a.db.query('SELECT 1 FROM pg_stat_activity WHERE $1::int = ANY (pg_blocking_pids(pid))', [pid]);
      if (rows.length > 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('a link presented while the change is in flight is refused once the change commits', async () => {
    const { user, tokens } = await signUp(a.fastify);
    const newEmail = uniqueEmail('attacker');
    const asked = await a.fastify.inject({ method: 'POST', url: '/auth/email/change', headers: bearer(tokens.access_token), payload: { new_email: newEmail, password: PASSWORD } });
    expect(asked.statusCode, asked.body).toBe(202);
    await a.app.mail.drainOnce();
    const [mail] = await new FileMailbox(a.config.mail.dir).to(newEmail, 'Confirm your new email address');
    a.clock.advance(1_000);

    let confirm: Promise<{ statusCode: number; body: string; json(): unknown; headers: Record<string, unknown> }> | undefined;
    await b.db.transaction(async (tx) => {
      await userStore.lockById(tx, user.id);
      await storePasswordAndEndSessions(tx, { userId: user.id, newHash: 'the-new-hash', now: new Date(b.clock.now()), reason: 'password_changed' });
      const [{ pid }] = (await tx.query('SELECT pg_backend_pid() AS pid')) as [{ pid: number }];
      confirm = a.fastify.inject({ method: 'POST', url: '/auth/email/change/confirm', payload: { token: mail!.token } }) as never;
      // A is now queued behind B's locks; B commits when this returns.
      await untilSomeoneWaitsOn(pid);
    });

    expectProblem((await confirm!) as never, 410, 'mail_token_voided');
    const now = await userStore.findById(a.db, user.id);
    expect(now).toMatchObject({ email: user.email, passwordHash: 'the-new-hash' });
  }, 60_000);
});
