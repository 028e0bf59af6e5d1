// One contract for the SQL layer, run against embedded PGlite and real PostgreSQL.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/db.ts';
import { migrate } from '../../src/db/migrate.ts';
import { purgeSessions } from '../../src/sessions/purge.ts';
import { sessionStore } from '../../src/sessions/session-store.ts';
import { EmailTakenError, userStore } from '../../src/users/user-store.ts';
import { createTestDb, type DbKind, type TestDb } from '../helpers/db.ts';

const HOUR = 3600_000;

function newSession(userId: string, now: Date, overrides: Partial<Parameters<typeof sessionStore.insertForVerifiedUser>[1]> = {}) {
  return {
    id: crypto.randomUUID(),
    userId,
    clientId: 'tessera',
    remember: true,
    now,
    idleExpiresAt: new Date(now.getTime() + HOUR),
    absoluteExpiresAt: new Date(now.getTime() + 24 * HOUR),
    userAgent: 'test',
    ip: '127.0.0.1',
    ...overrides,
  };
}

export function sqlStoreContract(kind: DbKind): void {
  describe(`SQL store contract on ${kind}`, () => {
  let t: TestDb;
  let db: Db;
  const now = new Date('2026-01-01T00:00:00Z');

  beforeAll(async () => {
    t = await createTestDb(kind);
    db = t.db;
  });
  afterAll(() => t.drop());

  const addUser = (email = `u-${crypto.randomBytes(4).toString('hex')}@example.com`) =>
    userStore.insert(db, { id: crypto.randomUUID(), email, passwordHash: 'hash-1', now });

  it('re-running migrations applies nothing', async () => {
    expect(await migrate(db)).toEqual([]);
  });

  it('stores users with unique emails', async () => {
    const user = await addUser('same@example.com');
    expect(user.email).toBe('same@example.com');
    expect(user.createdAt.getTime()).toBe(now.getTime());
    await expect(addUser('same@example.com')).rejects.toBeInstanceOf(EmailTakenError);
    expect((await userStore.findByEmail(db, 'same@example.com'))?.id).toBe(user.id);
    expect(await userStore.findByEmail(db, 'nobody@example.com')).toBeUndefined();
  });

  it('replaces a password hash only if it is still the expected one', async () => {
    const user = await addUser();
    expect(await userStore.replaceHash(db, user.id, 'hash-1', 'hash-2')).toBe(true);
    expect(await userStore.replaceHash(db, user.id, 'hash-1', 'hash-3')).toBe(false);
    expect((await userStore.findById(db, user.id))?.passwordHash).toBe('hash-2');
  });

  it('creates a session only for the verified hash of an enabled user', async () => {
    const user = await addUser();
    expect(await sessionStore.insertForVerifiedUser(db, newSession(user.id, now), 'wrong-hash')).toBeUndefined();
    const session = await sessionStore.insertForVerifiedUser(db, newSession(user.id, now), 'hash-1');
    expect(session?.userId).toBe(user.id);
    await userStore.setDisabled(db, user.id, now);
    expect(await sessionStore.insertForVerifiedUser(db, newSession(user.id, now), 'hash-1')).toBeUndefined();
  });

  it('keeps refresh-token hashes, rotation marks and session state', async () => {
    const user = await addUser();
    const session = (await sessionStore.insertForVerifiedUser(db, newSession(user.id, now), 'hash-1'))!;
    await sessionStore.insertToken(db, { tokenHash: 'h0', sessionId: session.id, generation: 0, issuedAt: now });
    expect(await db.transaction((tx) => sessionStore.lockByToken(tx, 'unknown'))).toBeUndefined();
    const later = new Date(now.getTime() + 1000);
    await db.transaction(async (tx) => {
      const locked = await sessionStore.lockByToken(tx, 'h0');
      expect(locked?.session.id).toBe(session.id);
      expect(locked?.token).toMatchObject({ generation: 0, rotatedAt: null });
      // Rotating inside the transaction that already holds the locks works too.
      const rotated = await sessionStore.rotateIfCurrent(tx, { oldHash: 'h0', successorSealed: 'sealed', newHash: 'h1', now: later, idleExpiresAt: later, graceCutoff: now });
      expect(rotated?.session.lastUsedAt.getTime()).toBe(later.getTime());
    });
    const token = await sessionStore.findToken(db, 'h0');
    expect(token).toMatchObject({ sessionId: session.id, generation: 0, successorSealed: 'sealed' });
    expect(token?.rotatedAt?.getTime()).toBe(later.getTime());
    expect(await sessionStore.findToken(db, 'h1')).toMatchObject({ sessionId: session.id, generation: 1, rotatedAt: null });

    expect(await sessionStore.listLive(db, user.id, now)).toHaveLength(1);
    expect((await sessionStore.revoke(db, session.id, now, 'logout'))?.revokedReason).toBe('logout');
    expect(await sessionStore.revoke(db, session.id, now, 'logout')).toBeUndefined();
    expect(await sessionStore.listLive(db, user.id, now)).toHaveLength(0);
  });

  it('rotates a current token of a live session in one statement, and nothing else', async () => {
    const user = await addUser();
    const session = (await sessionStore.insertForVerifiedUser(db, newSession(user.id, now), 'hash-1'))!;
    await sessionStore.insertToken(db, { tokenHash: 'c0', sessionId: session.id, generation: 0, issuedAt: now });
    const later = new Date(now.getTime() + 60_000);
    const rotate = (oldHash: string, newHash: string, at = later) =>
      sessionStore.rotateIfCurrent(db, { oldHash, newHash, successorSealed: 'sealed', now: at, idleExpiresAt: new Date(at.getTime() + 30 * HOUR), graceCutoff: now });
    const rotated = await rotate('c0', 'c1');
    expect(rotated?.generation).toBe(1);
    expect(rotated?.session.lastUsedAt.getTime()).toBe(later.getTime());
    // Idle expiry never passes the absolute end.
    expect(rotated?.session.idleExpiresAt.getTime()).toBe(session.absoluteExpiresAt.getTime());
    expect(await sessionStore.findToken(db, 'c0')).toMatchObject({ successorSealed: 'sealed' });
    expect(await sessionStore.findToken(db, 'c1')).toMatchObject({ generation: 1, rotatedAt: null });
    // Already rotated, unknown, expired or revoked: nothing happens.
    expect(await rotate('c0', 'c-fork')).toBeUndefined();
    expect(await sessionStore.findToken(db, 'c-fork')).toBeUndefined();
    expect(await rotate('nope', 'c-x')).toBeUndefined();
    expect(await rotate('c1', 'c-late', new Date(now.getTime() + 48 * HOUR))).toBeUndefined();
    await sessionStore.revoke(db, session.id, later, 'logout');
    expect(await rotate('c1', 'c2')).toBeUndefined();
    expect(await sessionStore.findToken(db, 'c2')).toBeUndefined();
  });

  it('lists only live sessions and deletes long-dead ones with their tokens', async () => {
    const user = await addUser();
    const live = (await sessionStore.insertForVerifiedUser(db, newSession(user.id, now), 'hash-1'))!;
    const idle = (await sessionStore.insertForVerifiedUser(db, newSession(user.id, now, { idleExpiresAt: new Date(now.getTime() - 1) }), 'hash-1'))!;
    await sessionStore.insertToken(db, { tokenHash: `dead-${idle.id}`, sessionId: idle.id, generation: 0, issuedAt: now });
    expect((await sessionStore.listLive(db, user.id, now)).map((s) => s.id)).toEqual([live.id]);
    // The purge, an hour of retention later: the idle session has been dead for longer than that.
    const report = await purgeSessions(db, now.getTime() + HOUR + 1, { retentionSeconds: 3600, graceSeconds: 10, batchSize: 1 });
    expect(report.sessionsDeleted).toBeGreaterThanOrEqual(1);
    expect(report.complete).toBe(true);
    expect(await sessionStore.findById(db, idle.id)).toBeUndefined();
    expect(await sessionStore.findToken(db, `dead-${idle.id}`)).toBeUndefined();
    expect(await sessionStore.findById(db, live.id)).toBeDefined();
  });

  it('runs work under an advisory lock, one holder at a time per schema', async () => {
    let release!: () => void;
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.withAdvisoryLock(4242, async () => {
      locked();
      await new Promise<void>((resolve) => (release = resolve));
      return 'first';
    });
    await isLocked;
    if (kind === 'postgres') {
      // Another replica on the same schema is refused at once...
      expect(await t.openAnother().withAdvisoryLock(4242, async () => 'second')).toEqual({ acquired: false });
      // ...while a deployment in another schema of the same database is not blocked.
      const elsewhere = await createTestDb('postgres');
      expect(await elsewhere.db.withAdvisoryLock(4242, async () => 'other schema')).toEqual({ acquired: true, value: 'other schema' });
      await elsewhere.drop();
    }
    release();
    expect(await holder).toEqual({ acquired: true, value: 'first' });
    expect(await db.withAdvisoryLock(4242, async () => 'again')).toEqual({ acquired: true, value: 'again' });
  });

  it('rolls a failed transaction back', async () => {
    const id = crypto.randomUUID();
    await expect(
      db.transaction(async (tx) => {
        await userStore.insert(tx, { id, email: `${id}@example.com`, passwordHash: 'h', now });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await userStore.findById(db, id)).toBeUndefined();
  });
  });
}
