import crypto from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Db, Queryable } from '../db/db.ts';
import { AuthError } from '../errors.ts';
import type { WithinRevocation } from '../sessions/session-service.ts';
import type { Session } from '../sessions/session-store.ts';
import type { PasswordHasher } from './password.ts';
import { replacePasswordAndRevokeSessions } from './password-change.ts';
import { EmailTakenError, userStore, type User } from './user-store.ts';

export interface PublicUser {
  id: string;
  email: string;
  created_at: string;
  email_verified: boolean;
}

export const toPublicUser = (u: User): PublicUser => ({
  id: u.id,
  email: u.email,
  created_at: u.createdAt.toISOString(),
  email_verified: u.emailVerifiedAt !== null,
});

/** Emails are compared trimmed and lower-cased everywhere (storage, login, throttling). */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export interface AuthenticatedUser {
  user: User;
  /** The hash now stored for the user (after a rehash, the new one). */
  passwordHash: string;
}

export class UserService {
  constructor(
    private readonly db: Db,
    private readonly hasher: PasswordHasher,
    private readonly clock: Clock,
  ) {}

  /** `withinTransaction` runs in the transaction that inserts the user (e.g. to queue the verification mail). */
  async register(email: string, password: string, withinTransaction?: (tx: Queryable, user: User) => Promise<void>): Promise<User> {
    const passwordHash = await this.hasher.hash(password);
    const fields = { id: crypto.randomUUID(), email: normalizeEmail(email), passwordHash, now: new Date(this.clock.now()) };
    try {
      if (!withinTransaction) return await userStore.insert(this.db, fields);
      return await this.db.transaction(async (tx) => {
        const user = await userStore.insert(tx, fields);
        await withinTransaction(tx, user);
        return user;
      });
    } catch (err) {
      if (err instanceof EmailTakenError) throw new AuthError('email_taken', 'An account with this email already exists');
      throw err;
    }
  }

  /**
   * Checks email and password. An unknown email, a wrong password and a disabled account
   * all fail the same way after one argon2 verification, so neither the answer nor its
   * timing tells which it was.
   */
  async authenticate(email: string, password: string): Promise<AuthenticatedUser> {
    const user = await userStore.findByEmail(this.db, normalizeEmail(email));
    // An account without a password (passkeys only, or created by a provider) spends the same argon2 time as a wrong
    // password, and fails the same way: no timing oracle for "this account has no password".
    const hash = user?.passwordHash ?? null;
    const ok = hash !== null ? await this.hasher.verify(hash, password) : await this.hasher.verifyDummy(password);
    if (!user || hash === null || !ok || user.disabledAt) throw new AuthError('invalid_credentials', 'Invalid email or password');
    return { user, passwordHash: await this.rehashIfOutdated(user.id, hash, password) };
  }

  /** Parameters were raised since this hash was made: upgrade it now that we know the password. */
  private async rehashIfOutdated(userId: string, hash: string, password: string): Promise<string> {
    if (!this.hasher.needsRehash(hash)) return hash;
    const upgraded = await this.hasher.hash(password);
    const replaced = await userStore.replaceHash(this.db, userId, hash, upgraded);
    // A different hash returned tells the caller it was upgraded (AuthService logs password.rehashed).
    if (!replaced) return hash; // changed concurrently; the session insert will notice
    return upgraded;
  }

  findById(id: string): Promise<User | undefined> {
    return userStore.findById(this.db, id);
  }

  /** False, after the same argon2 time, for an account without a password. */
  async verifyPassword(user: User, password: string): Promise<boolean> {
    if (user.passwordHash === null) return this.hasher.verifyDummy(password);
    return this.hasher.verify(user.passwordHash, password);
  }

  /** New hash + every session revoked, atomically; undefined if the hash changed meanwhile. */
  replacePassword(userId: string, verifiedHash: string | null, newHash: string, within?: WithinRevocation): Promise<Session[] | undefined> {
    return replacePasswordAndRevokeSessions(this.db, { userId, verifiedHash, newHash, now: new Date(this.clock.now()) }, within);
  }

  hashPassword(password: string): Promise<string> {
    return this.hasher.hash(password);
  }
}
