import { mailTokenStore } from '../account/mail-token-store.ts';
import type { Db, Queryable } from '../db/db.ts';
import type { WithinRevocation } from '../sessions/session-service.ts';
import { sessionStore, type Session } from '../sessions/session-store.ts';
import { userStore } from './user-store.ts';

/**
 * The one way a password is replaced (change, reset by email, operator): the new hash,
 * every session revoked and every outstanding reset link voided. Runs in the caller's
 * transaction, which must hold the user's row lock. Returns the sessions it revoked, for
 * the caller to deny their access tokens (AuthService.userRevocations, in the same transaction).
 */
export async function storePasswordAndEndSessions(
  tx: Queryable,
  change: { userId: string; newHash: string; now: Date; reason: string },
): Promise<Session[]> {
  await userStore.setPassword(tx, change.userId, change.newHash, change.now);
  await mailTokenStore.voidOutstanding(tx, change.userId, 'password_reset', change.now, 'password_changed');
  return sessionStore.revokeAllForUser(tx, change.userId, change.now, change.reason);
}

/**
 * Stores the new hash and revokes every session of the user in one transaction, under the
 * user's row lock: a login racing with us either finishes first (and its session is
 * revoked here) or waits and then fails its compare-and-set on the old hash.
 * Returns undefined when the hash changed since the caller verified the current password.
 */
export async function replacePasswordAndRevokeSessions(
  db: Db,
  change: { userId: string; verifiedHash: string | null; newHash: string; now: Date },
  within?: WithinRevocation,
): Promise<Session[] | undefined> {
  return db.transaction(async (tx) => {
    const user = await userStore.lockById(tx, change.userId);
    if (!user || user.passwordHash !== change.verifiedHash) return undefined;
    const revoked = await storePasswordAndEndSessions(tx, { userId: change.userId, newHash: change.newHash, now: change.now, reason: 'password_changed' });
    await within?.(tx, revoked);
    return revoked;
  });
}
