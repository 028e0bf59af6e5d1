import type { Queryable } from '../db/db.ts';

export interface User {
  id: string;
  email: string;
  /** NULL for an account that signs in only otherwise (passkeys, a provider) until a password is set through the reset flow. */
  passwordHash: string | null;
  createdAt: Date;
  passwordChangedAt: Date;
  disabledAt: Date | null;
  emailVerifiedAt: Date | null;
}

interface UserRow {
  id: string;
  email: string;
  password_hash: string | null;
  created_at: Date;
  password_changed_at: Date;
  disabled_at: Date | null;
  email_verified_at: Date | null;
  [k: string]: unknown;
}

const toUser = (r: UserRow): User => ({
  id: r.id,
  email: r.email,
  passwordHash: r.password_hash,
  createdAt: new Date(r.created_at),
  passwordChangedAt: new Date(r.password_changed_at),
  disabledAt: r.disabled_at ? new Date(r.disabled_at) : null,
  emailVerifiedAt: r.email_verified_at ? new Date(r.email_verified_at) : null,
});

const COLUMNS = 'id, email, password_hash, created_at, password_changed_at, disabled_at, email_verified_at';

export class EmailTakenError extends Error {
  constructor() {
    super('email taken');
  }
}

/** SQL for the users table; every function takes the connection or transaction to use. */
export const userStore = {
  async insert(db: Queryable, user: { id: string; email: string; passwordHash: string | null; now: Date; emailVerified?: boolean }): Promise<User> {
    try {
      const rows = await db.query<UserRow>(
        `INSERT INTO users (id, email, password_hash, created_at, password_changed_at, email_verified_at)
         VALUES ($1, $2, $3, $4, $4, $5) RETURNING ${COLUMNS}`,
        [user.id, user.email, user.passwordHash, user.now, user.emailVerified ? user.now : null],
      );
      return toUser(rows[0]!);
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new EmailTakenError();
      throw err;
    }
  },

  async findByEmail(db: Queryable, email: string): Promise<User | undefined> {
    const rows = await db.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE email = $1`, [email]);
    return rows[0] && toUser(rows[0]);
  },

  async findById(db: Queryable, id: string): Promise<User | undefined> {
    const rows = await db.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
    return rows[0] && toUser(rows[0]);
  },

  /** Locks the user row until the transaction ends (password change, logout-all). */
  async lockById(tx: Queryable, id: string): Promise<User | undefined> {
    const rows = await tx.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1 FOR UPDATE`, [id]);
    return rows[0] && toUser(rows[0]);
  },

  /** Compare-and-set: only replaces the hash the caller verified. Returns false if it changed meanwhile. */
  async replaceHash(db: Queryable, id: string, expected: string, next: string): Promise<boolean> {
    const rows = await db.query('UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2 RETURNING id', [
      id,
      expected,
      next,
    ]);
    return rows.length === 1;
  },

  async setPassword(tx: Queryable, id: string, hash: string, now: Date): Promise<void> {
    await tx.query('UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1', [id, hash, now]);
  },

  /** Marks the address verified (only while it is still `email`); returns the user as it is now. */
  async setEmailVerified(tx: Queryable, id: string, email: string, now: Date): Promise<User | undefined> {
    const rows = await tx.query<UserRow>(
      `UPDATE users SET email_verified_at = COALESCE(email_verified_at, $3) WHERE id = $1 AND email = $2 RETURNING ${COLUMNS}`,
      [id, email, now],
    );
    return rows[0] && toUser(rows[0]);
  },

  /** Switches the address, verified by the change itself. Throws EmailTakenError if another account has it. */
  async changeEmail(tx: Queryable, id: string, email: string, now: Date): Promise<User | undefined> {
    try {
      const rows = await tx.query<UserRow>(`UPDATE users SET email = $2, email_verified_at = $3 WHERE id = $1 RETURNING ${COLUMNS}`, [
        id,
        email,
        now,
      ]);
      return rows[0] && toUser(rows[0]);
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new EmailTakenError();
      throw err;
    }
  },

  /** Deletes the user; sessions, refresh tokens and mail tokens go with it (cascade). */
  async delete(tx: Queryable, id: string): Promise<boolean> {
    const rows = await tx.query('DELETE FROM users WHERE id = $1 RETURNING id', [id]);
    return rows.length === 1;
  },

  async setDisabled(db: Queryable, id: string, disabledAt: Date | null): Promise<boolean> {
    const rows = await db.query('UPDATE users SET disabled_at = $2 WHERE id = $1 RETURNING id', [id, disabledAt]);
    return rows.length === 1;
  },
};
