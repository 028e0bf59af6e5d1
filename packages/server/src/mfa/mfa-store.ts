// SQL for the second factor: mfa_totp, mfa_recovery_codes, mfa_challenges. Every function
// takes the connection or transaction to use. Each "use" of a code is one conditional
// UPDATE, so PostgreSQL's row lock decides between replicas: the loser re-reads the row
// after the winner's commit and its WHERE no longer matches.
import type { Queryable } from '../db/db.ts';
import type { Row } from '../db/rows.ts';

export interface TotpFactor {
  userId: string;
  secretSealed: string;
  createdAt: Date;
  confirmedAt: Date | null;
  lastUsedStep: number | null;
}

export interface MfaChallenge {
  tokenHash: string;
  userId: string;
  passwordDigest: string;
  remember: boolean;
  tokenDelivery: 'body' | 'cookie';
  createdAt: Date;
  expiresAt: Date;
  failures: number;
  /** How the first step was done when it was not the password (a provider sign-in: its amr). */
  firstAmr: string[] | null;
  /** The provider of a social sign-in waiting for its second factor. */
  idp: string | null;
}


const toFactor = (r: Row): TotpFactor => ({
  userId: r.user_id as string,
  secretSealed: r.secret_sealed as string,
  createdAt: new Date(r.created_at as string),
  confirmedAt: r.confirmed_at ? new Date(r.confirmed_at as string) : null,
  lastUsedStep: r.last_used_step === null || r.last_used_step === undefined ? null : Number(r.last_used_step),
});

const toChallenge = (r: Row): MfaChallenge => ({
  tokenHash: r.token_hash as string,
  userId: r.user_id as string,
  passwordDigest: r.password_digest as string,
  remember: r.remember as boolean,
  tokenDelivery: r.token_delivery === 'cookie' ? 'cookie' : 'body',
  createdAt: new Date(r.created_at as string),
  expiresAt: new Date(r.expires_at as string),
  failures: Number(r.failures),
  firstAmr: (r.first_amr as string[] | null | undefined) ?? null,
  idp: (r.idp as string | null | undefined) ?? null,
});

export const mfaStore = {
  /** Whether a confirmed factor exists, and how many recovery codes are left. */
  async status(db: Queryable, userId: string): Promise<{ active: boolean; recoveryCodesLeft: number }> {
    const rows = await db.query<{ active: boolean | null; left: number }>(
      `SELECT (SELECT confirmed_at IS NOT NULL FROM mfa_totp WHERE user_id = $1) AS active,
              (SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL)::int AS left`,
      [userId],
    );
    return { active: rows[0]?.active === true, recoveryCodesLeft: Number(rows[0]?.left ?? 0) };
  },

  /** Starts (or restarts) an enrolment; false when a confirmed factor is already there. */
  async startEnrollment(db: Queryable, f: { userId: string; secretSealed: string; now: Date }): Promise<boolean> {
    const rows = await db.query(
      `INSERT INTO mfa_totp (user_id, secret_sealed, created_at) VALUES ($1, $2, $3)
       ON CONFLICT (user_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, created_at = EXCLUDED.created_at, last_used_step = NULL
         WHERE mfa_totp.confirmed_at IS NULL
       RETURNING user_id`,
      [f.userId, f.secretSealed, f.now],
    );
    return rows.length === 1;
  },

  async findFactor(db: Queryable, userId: string): Promise<TotpFactor | undefined> {
    const rows = await db.query('SELECT * FROM mfa_totp WHERE user_id = $1', [userId]);
    return rows[0] && toFactor(rows[0]);
  },

  /**
   * Activates exactly the enrolment the caller checked the code against (a concurrent
   * re-enrolment changes the secret and makes this a no-op), and records the code's step.
   */
  async confirm(tx: Queryable, c: { userId: string; secretSealed: string; step: number; now: Date }): Promise<boolean> {
    const rows = await tx.query(
      `UPDATE mfa_totp SET confirmed_at = $4, last_used_step = $3
       WHERE user_id = $1 AND secret_sealed = $2 AND confirmed_at IS NULL RETURNING user_id`,
      [c.userId, c.secretSealed, c.step, c.now],
    );
    return rows.length === 1;
  },

  /** Accepts a code's time step once: only when it is newer than every step used before. */
  async useStep(db: Queryable, userId: string, step: number): Promise<boolean> {
    const rows = await db.query(
      `UPDATE mfa_totp SET last_used_step = $2
       WHERE user_id = $1 AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $2)
       RETURNING user_id`,
      [userId, step],
    );
    return rows.length === 1;
  },

  async replaceRecoveryCodes(tx: Queryable, userId: string, hashes: string[], now: Date): Promise<void> {
    await tx.query('DELETE FROM mfa_recovery_codes WHERE user_id = $1', [userId]);
    await tx.query(
      `INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) SELECT $1, h, $3 FROM unnest($2::text[]) AS h`,
      [userId, hashes, now],
    );
  },

  /** Marks an unused recovery code used; returns how many are left, or undefined if it was not usable. */
  async useRecoveryCode(db: Queryable, userId: string, hash: string, now: Date): Promise<number | undefined> {
    const rows = await db.query<{ left: number }>(
      `WITH used AS (
         UPDATE mfa_recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL
           AND EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL)
         RETURNING code_hash
       )
       SELECT (SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL)::int - 1 AS left FROM used`,
      [userId, hash, now],
    );
    return rows[0] ? Number(rows[0].left) : undefined;
  },

  /** Removes the factor, its recovery codes and every login waiting for it. True if there was one. */
  async removeFactor(tx: Queryable, userId: string): Promise<boolean> {
    const rows = await tx.query('DELETE FROM mfa_totp WHERE user_id = $1 RETURNING confirmed_at', [userId]);
    await tx.query('DELETE FROM mfa_recovery_codes WHERE user_id = $1', [userId]);
    await tx.query('DELETE FROM mfa_challenges WHERE user_id = $1', [userId]);
    return rows.some((r) => r.confirmed_at !== null);
  },

  async insertChallenge(db: Queryable, c: Omit<MfaChallenge, 'failures'>): Promise<void> {
    await db.query(
      `INSERT INTO mfa_challenges (token_hash, user_id, password_digest, remember, token_delivery, created_at, expires_at, first_amr, idp)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [c.tokenHash, c.userId, c.passwordDigest, c.remember, c.tokenDelivery, c.createdAt, c.expiresAt, c.firstAmr, c.idp],
    );
  },

  /** Locks a live challenge until the transaction ends: one verification at a time per mfa_token. */
  async lockChallenge(tx: Queryable, tokenHash: string, now: Date): Promise<MfaChallenge | undefined> {
    const rows = await tx.query('SELECT * FROM mfa_challenges WHERE token_hash = $1 AND expires_at > $2 FOR UPDATE', [tokenHash, now]);
    return rows[0] && toChallenge(rows[0]);
  },

  async findChallenge(db: Queryable, tokenHash: string, now: Date): Promise<MfaChallenge | undefined> {
    const rows = await db.query('SELECT * FROM mfa_challenges WHERE token_hash = $1 AND expires_at > $2', [tokenHash, now]);
    return rows[0] && toChallenge(rows[0]);
  },

  async deleteChallenge(db: Queryable, tokenHash: string): Promise<void> {
    await db.query('DELETE FROM mfa_challenges WHERE token_hash = $1', [tokenHash]);
  },

  /** Counts a wrong code against the challenge; at `max` it is gone. */
  async challengeFailed(db: Queryable, tokenHash: string, max: number): Promise<void> {
    const rows = await db.query<{ failures: number }>(
      'UPDATE mfa_challenges SET failures = failures + 1 WHERE token_hash = $1 RETURNING failures',
      [tokenHash],
    );
    if (rows[0] && Number(rows[0].failures) >= max) await db.query('DELETE FROM mfa_challenges WHERE token_hash = $1', [tokenHash]);
  },

  /** Deletes up to `limit` expired challenges: a bounded bit of housekeeping per login. */
  async purgeExpiredChallenges(db: Queryable, now: Date, limit: number): Promise<void> {
    await db.query(
      `DELETE FROM mfa_challenges WHERE token_hash IN (SELECT token_hash FROM mfa_challenges WHERE expires_at <= $1 LIMIT $2)`,
      [now, limit],
    );
  },
};
