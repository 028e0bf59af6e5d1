// WebAuthn challenges in SQL, so that any replica completes a ceremony another began (PGlite
// and PostgreSQL alike). A challenge is consumed by one DELETE … RETURNING: of two replicas
// presenting the same assertion at once, exactly one gets the row, whatever the outcome of
// the verification that follows (a failed ceremony uses its challenge up too).
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.ts';

/** A challenge lives this long (WebAuthn's recommended ceremony timeout is 5 minutes). */
export const CHALLENGE_TTL_SECONDS = 300;

export type ChallengePurpose = 'registration' | 'login' | 'second_factor' | 'step_up';

/** What a challenge is bound to, besides its purpose; a field left out binds to nothing. */
export interface ChallengeBinding {
  userId?: string;
  sessionId?: string;
  mfaTokenHash?: string;
}

export interface IssuedChallenge extends ChallengeBinding {
  challenge: string;
  purpose: ChallengePurpose;
}

/** 32 random bytes, base64url: what the options carry and clientDataJSON echoes. */
export const newChallenge = (): string => crypto.randomBytes(32).toString('base64url');

export const challengeStore = {
  async insert(db: Queryable, c: IssuedChallenge, now: Date): Promise<void> {
    // A bounded bit of housekeeping per ceremony, as for mfa_challenges.
    await db.query(
      `DELETE FROM webauthn_challenges WHERE challenge IN (SELECT challenge FROM webauthn_challenges WHERE expires_at <= $1 LIMIT 100)`,
      [now],
    );
    await db.query(
      `INSERT INTO webauthn_challenges (challenge, purpose, user_id, session_id, mfa_token_hash, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [c.challenge, c.purpose, c.userId ?? null, c.sessionId ?? null, c.mfaTokenHash ?? null, now, new Date(now.getTime() + CHALLENGE_TTL_SECONDS * 1000)],
    );
  },

  /** Ends every ceremony under way for the account (a passkey removed). */
  async removeForUser(db: Queryable, userId: string): Promise<void> {
    await db.query('DELETE FROM webauthn_challenges WHERE user_id = $1', [userId]);
  },

  /**
   * Takes the challenge if it is live, of this purpose and bound to exactly what the caller
   * says; true once, false for a challenge never issued, expired, used, or issued for
   * something else. A mismatching caller cannot burn another ceremony's challenge.
   */
  async consume(db: Queryable, c: IssuedChallenge, now: Date): Promise<boolean> {
    const rows = await db.query(
      `DELETE FROM webauthn_challenges
       WHERE challenge = $1 AND purpose = $2 AND expires_at > $6
         AND user_id IS NOT DISTINCT FROM $3::uuid AND session_id IS NOT DISTINCT FROM $4::uuid AND mfa_token_hash IS NOT DISTINCT FROM $5::text
       RETURNING challenge`,
      [c.challenge, c.purpose, c.userId ?? null, c.sessionId ?? null, c.mfaTokenHash ?? null, now],
    );
    return rows.length === 1;
  },
};
