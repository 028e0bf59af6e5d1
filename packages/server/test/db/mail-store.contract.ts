// The mail outbox and the mailed-secret store, on embedded PGlite and on PostgreSQL; and,
// on PostgreSQL, several replicas claiming from one outbox at the same moment.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mailTokenStore } from '../../src/account/mail-token-store.ts';
import type { Db } from '../../src/db/db.ts';
import { outboxStore, type NewMail } from '../../src/mail/outbox-store.ts';
import { userStore } from '../../src/users/user-store.ts';
import { createTestDb, type DbKind, type TestDb } from '../helpers/db.ts';

export const MINUTE = 60_000;
export const CONTEXT = { ip: '127.0.0.1', user_agent: 'test', request_id: 'req-1' };

export function mailStoreContract(kind: DbKind): void {
  describe(`mail stores on ${kind}`, () => {
  let t: TestDb;
  let db: Db;
  const t0 = new Date('2026-01-01T00:00:00Z').getTime();
  const at = (ms: number) => new Date(t0 + ms);

  beforeAll(async () => {
    t = await createTestDb(kind);
    db = t.db;
  }, 180_000); // PGlite (WASM) boots slowly on a busy machine
  afterAll(() => t.drop());

  const addUser = () =>
    userStore.insert(db, { id: crypto.randomUUID(), email: `u-${crypto.randomBytes(4).toString('hex')}@example.com`, passwordHash: 'h', now: at(0) });
  const mail = (overrides: Partial<NewMail> = {}): NewMail => ({
    kind: 'password_reset',
    userId: null,
    recipient: 'someone@example.com',
    context: CONTEXT,
    now: at(0),
    expiresAt: at(30 * MINUTE),
    ...overrides,
  });
  /** Everything due at `now` is claimed and finished, so each test starts from an empty queue. */
  const drainAll = async (now: Date) => {
    for (;;) {
      const claimed = await outboxStore.claimNext(db, { now, leaseUntil: new Date(now.getTime() + MINUTE), claim: crypto.randomUUID() });
      if (!claimed) return;
      await outboxStore.finish(db, claimed, now, 'dropped');
    }
  };

  it('claims a due mail once; the lease keeps it from everyone until it ends', async () => {
    const seq = await outboxStore.enqueue(db, mail({ data: { new_email: 'x@example.com' } }));
    const first = await outboxStore.claimNext(db, { now: at(0), leaseUntil: at(2 * MINUTE), claim: crypto.randomUUID() });
    expect(first).toMatchObject({ seq, kind: 'password_reset', userId: null, recipient: 'someone@example.com', attempts: 1, context: CONTEXT, data: { new_email: 'x@example.com' } });
    expect(await outboxStore.claimNext(db, { now: at(MINUTE), leaseUntil: at(3 * MINUTE), claim: crypto.randomUUID() })).toBeUndefined();
    // The replica holding it died: at the end of the lease another one takes it.
    const second = await outboxStore.claimNext(db, { now: at(2 * MINUTE), leaseUntil: at(4 * MINUTE), claim: crypto.randomUUID() });
    expect(second).toMatchObject({ seq, attempts: 2 });
    // Only the current claim records the outcome.
    expect(await outboxStore.finish(db, first!, at(2 * MINUTE), 'sent')).toBe(false);
    expect(await outboxStore.finish(db, second!, at(2 * MINUTE), 'sent')).toBe(true);
    expect(await outboxStore.claimNext(db, { now: at(10 * MINUTE), leaseUntil: at(11 * MINUTE), claim: crypto.randomUUID() })).toBeUndefined();
  });

  it('a retried mail is due again at its time, oldest first', async () => {
    await drainAll(at(60 * MINUTE));
    const a = await outboxStore.enqueue(db, mail());
    const b = await outboxStore.enqueue(db, mail());
    const claimed = await outboxStore.claimNext(db, { now: at(0), leaseUntil: at(MINUTE), claim: crypto.randomUUID() });
    expect(claimed?.seq).toBe(a);
    expect(await outboxStore.retryAt(db, claimed!, at(5 * MINUTE), 'ECONNECTION: refused')).toBe(true);
    expect((await outboxStore.claimNext(db, { now: at(0), leaseUntil: at(10 * MINUTE), claim: crypto.randomUUID() }))?.seq).toBe(b);
    expect(await outboxStore.claimNext(db, { now: at(4 * MINUTE), leaseUntil: at(4 * MINUTE + 1), claim: crypto.randomUUID() })).toBeUndefined();
    expect((await outboxStore.claimNext(db, { now: at(5 * MINUTE), leaseUntil: at(6 * MINUTE), claim: crypto.randomUUID() }))?.seq).toBe(a);
    const rows = await db.query<{ last_error: string }>('SELECT last_error FROM mail_outbox WHERE seq = $1', [a]);
    expect(rows[0]!.last_error).toBe('ECONNECTION: refused');
  });

  it('knows a newer request of the same kind, forgets a user, purges finished mail', async () => {
    await drainAll(at(60 * MINUTE));
    const user = await addUser();
    await outboxStore.enqueue(db, mail({ userId: user.id, kind: 'email_verification' }));
    await outboxStore.enqueue(db, mail({ userId: user.id, kind: 'email_verification' }));
    await outboxStore.enqueue(db, mail({ userId: user.id, kind: 'email_change_notice' }));
    const older = (await outboxStore.claimNext(db, { now: at(0), leaseUntil: at(MINUTE), claim: crypto.randomUUID() }))!;
    const newer = (await outboxStore.claimNext(db, { now: at(0), leaseUntil: at(MINUTE), claim: crypto.randomUUID() }))!;
    expect(await outboxStore.newerExists(db, older)).toBe(true);
    expect(await outboxStore.newerExists(db, newer)).toBe(false);
    await outboxStore.finish(db, older, at(0), 'dropped');
    expect(await outboxStore.purgeDone(db, at(1))).toBeGreaterThanOrEqual(1);
    expect(await outboxStore.deleteForUser(db, user.id)).toBe(2);
  });

  it('keeps only the newest secret of a purpose; voids, locks and uses them', async () => {
    const user = await addUser();
    const insert = (hash: string, purpose: 'password_reset' | 'email_verification', now = at(0)) =>
      db.transaction((tx) => mailTokenStore.insertNewest(tx, { tokenHash: hash, userId: user.id, purpose, email: user.email, now, expiresAt: at(30 * MINUTE) }));
    await insert('reset-1', 'password_reset');
    await insert('verify-1', 'email_verification');
    await insert('reset-2', 'password_reset', at(1));
    const tokens = await mailTokenStore.listForUser(db, user.id);
    expect(tokens.map((x) => [x.tokenHash, x.voidedReason])).toEqual([
      ['reset-1', 'superseded'],
      ['verify-1', null],
      ['reset-2', null],
    ]);
    await db.transaction(async (tx) => {
      expect(await mailTokenStore.lock(tx, 'reset-2', 'email_verification')).toBeUndefined();
      const locked = await mailTokenStore.lock(tx, 'reset-2', 'password_reset');
      expect(locked).toMatchObject({ userId: user.id, email: user.email, usedAt: null, voidedAt: null });
      await mailTokenStore.markUsed(tx, 'reset-2', at(2));
    });
    expect(await db.transaction((tx) => mailTokenStore.voidOutstanding(tx, user.id, 'password_reset', at(3), 'password_changed'))).toBe(0);
    expect(await db.transaction((tx) => mailTokenStore.voidOutstanding(tx, user.id, 'email_verification', at(3), 'email_changed'))).toBe(1);
    // Deleting the user deletes its secrets.
    await db.transaction((tx) => userStore.delete(tx, user.id));
    expect(await mailTokenStore.listForUser(db, user.id)).toEqual([]);
  });
  });
}
