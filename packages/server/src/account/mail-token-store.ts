import type { Queryable } from '../db/db.ts';
import { date, nullableDate, type Row } from '../db/rows.ts';

/** What a mailed secret lets its holder do. */
export type MailTokenPurpose = 'password_reset' | 'email_verification' | 'email_change';

export interface MailToken {
  tokenHash: string;
  userId: string;
  purpose: MailTokenPurpose;
  /** The address it was mailed to. */
  email: string;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  voidedAt: Date | null;
  voidedReason: string | null;
}


const toToken = (r: Row): MailToken => ({
  tokenHash: r.token_hash as string,
  userId: r.user_id as string,
  purpose: r.purpose as MailTokenPurpose,
  email: r.email as string,
  createdAt: date(r.created_at),
  expiresAt: date(r.expires_at),
  usedAt: nullableDate(r.used_at),
  voidedAt: nullableDate(r.voided_at),
  voidedReason: (r.voided_reason as string | null) ?? null,
});

/** SQL for mail_tokens; every function takes the connection or transaction to use. */
export const mailTokenStore = {
  /** Stores a new secret's hash and voids the user's older ones of the same purpose: only the newest works. */
  async insertNewest(
    tx: Queryable,
    t: { tokenHash: string; userId: string; purpose: MailTokenPurpose; email: string; now: Date; expiresAt: Date },
  ): Promise<void> {
    await mailTokenStore.voidOutstanding(tx, t.userId, t.purpose, t.now, 'superseded');
    await tx.query(
      `INSERT INTO mail_tokens (token_hash, user_id, purpose, email, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [t.tokenHash, t.userId, t.purpose, t.email, t.now, t.expiresAt],
    );
  },

  /** Voids every unused, unvoided secret of the user for `purpose`; returns how many. */
  async voidOutstanding(tx: Queryable, userId: string, purpose: MailTokenPurpose, now: Date, reason: string): Promise<number> {
    const rows = await tx.query(
      `UPDATE mail_tokens SET voided_at = $3, voided_reason = $4
       WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL AND voided_at IS NULL RETURNING token_hash`,
      [userId, purpose, now, reason],
    );
    return rows.length;
  },

  /** Voids every unused, unvoided secret of the user, whatever its purpose; returns how many. */
  async voidAllForUser(tx: Queryable, userId: string, now: Date, reason: string): Promise<number> {
    const rows = await tx.query(
      `UPDATE mail_tokens SET voided_at = $2, voided_reason = $3
       WHERE user_id = $1 AND used_at IS NULL AND voided_at IS NULL RETURNING token_hash`,
      [userId, now, reason],
    );
    return rows.length;
  },

  /** Reads a secret's row without locking it (to learn whose it is before taking the owner's lock). */
  async find(db: Queryable, tokenHash: string, purpose: MailTokenPurpose): Promise<MailToken | undefined> {
    const rows = await db.query('SELECT * FROM mail_tokens WHERE token_hash = $1 AND purpose = $2', [tokenHash, purpose]);
    return rows[0] && toToken(rows[0]);
  },

  /**
   * Locks a secret's row until the transaction ends: two requests presenting the same
   * secret at once (on any replica) queue here, and the second sees it used.
   */
  async lock(tx: Queryable, tokenHash: string, purpose: MailTokenPurpose): Promise<MailToken | undefined> {
    const rows = await tx.query('SELECT * FROM mail_tokens WHERE token_hash = $1 AND purpose = $2 FOR UPDATE', [tokenHash, purpose]);
    return rows[0] && toToken(rows[0]);
  },

  async markUsed(tx: Queryable, tokenHash: string, now: Date): Promise<void> {
    await tx.query('UPDATE mail_tokens SET used_at = $2 WHERE token_hash = $1', [tokenHash, now]);
  },

  async listForUser(db: Queryable, userId: string): Promise<MailToken[]> {
    const rows = await db.query('SELECT * FROM mail_tokens WHERE user_id = $1 ORDER BY created_at, token_hash', [userId]);
    return rows.map(toToken);
  },
};
