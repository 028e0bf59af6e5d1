import type { Db } from '../db/db.ts';
import { sessionStore, type Session } from '../sessions/session-store.ts';
import { userStore } from './user-store.ts';

/**
 * Stores the new hash and revokes every session of the user in one transaction, under the
 * user's row lock: a login racing with us either finishes first (and its session is
 * revoked here) or waits and then fails its compare-and-set on the old hash.
 * Returns undefined when the hash changed since the caller verified the current password.
 */
export async function replacePasswordAndRevokeSessions(
  db: Db,
  change: { userId: string; verifiedHash: string; newHash: string; now: Date },
): Promise<Session[] | undefined> {
  return db.transaction(async (tx) => {
    const user = await userStore.lockById(tx, change.userId);
    if (!user || user.passwordHash !== change.verifiedHash) return undefined;
    await userStore.setPassword(tx, change.userId, change.newHash, change.now);
    return sessionStore.revokeAllForUser(tx, change.userId, change.now, 'password_changed');
  });
}
