// SQL for the two single-use secrets of a provider sign-in: the `state` of a flow (start →
// callback) and the one-time code (callback → /auth/providers/token). Both are stored as
// SHA-256 digests and taken with DELETE … RETURNING, so exactly one request, on any
// replica, gets each; an expired one is never returned.
import crypto from 'node:crypto';
import type { Queryable } from '../db/db.ts';
import { date, type Row } from '../db/rows.ts';

export const FLOW_TTL_SECONDS = 600;

export interface ProviderFlow {
  provider: string;
  nonce: string;
  codeVerifier: string;
  redirectTo: string;
  codeChallenge: string;
  linkUserId: string | null;
  createdAt: Date;
}

export interface ProviderCode {
  provider: string;
  codeChallenge: string;
  userId: string;
  identityId: string | null;
  amr: string[] | null;
}

/** 256 bits, URL-safe: state, nonce, PKCE verifier, one-time code. */
export const randomSecret = (): string => crypto.randomBytes(32).toString('base64url');
export const digest = (secret: string): string => crypto.createHash('sha256').update(secret).digest('base64url');

export const flowStore = {
  async insertFlow(db: Queryable, state: string, flow: ProviderFlow, now: Date): Promise<void> {
    await db.query(
      `INSERT INTO provider_flows (state_hash, provider, nonce, code_verifier, redirect_to, code_challenge, link_user_id, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [digest(state), flow.provider, flow.nonce, flow.codeVerifier, flow.redirectTo, flow.codeChallenge, flow.linkUserId, now, expiry(now)],
    );
  },

  /** The flow of `state`, removed: a second callback with the same state finds nothing. */
  async takeFlow(db: Queryable, state: string, now: Date): Promise<ProviderFlow | undefined> {
    const rows = await db.query(`DELETE FROM provider_flows WHERE state_hash = $1 RETURNING *, expires_at > $2 AS live`, [digest(state), now]);
    const r = rows[0];
    if (!r || r.live !== true) return undefined;
    return {
      provider: r.provider as string,
      nonce: r.nonce as string,
      codeVerifier: r.code_verifier as string,
      redirectTo: r.redirect_to as string,
      codeChallenge: r.code_challenge as string,
      linkUserId: (r.link_user_id as string | null) ?? null,
      createdAt: date(r.created_at),
    };
  },

  async insertCode(db: Queryable, code: string, c: ProviderCode, now: Date): Promise<void> {
    await db.query(
      `INSERT INTO provider_codes (code_hash, provider, code_challenge, user_id, identity_id, amr, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [digest(code), c.provider, c.codeChallenge, c.userId, c.identityId, c.amr, now, expiry(now)],
    );
  },

  /** The code's outcome, removed whatever the verifier turns out to be: one attempt per code. */
  async takeCode(db: Queryable, code: string, now: Date): Promise<ProviderCode | undefined> {
    const rows = await db.query(`DELETE FROM provider_codes WHERE code_hash = $1 RETURNING *, expires_at > $2 AS live`, [digest(code), now]);
    const r: Row | undefined = rows[0];
    if (!r || r.live !== true) return undefined;
    return {
      provider: r.provider as string,
      codeChallenge: r.code_challenge as string,
      userId: r.user_id as string,
      identityId: (r.identity_id as string | null) ?? null,
      amr: (r.amr as string[] | null) ?? null,
    };
  },

  /** Abandoned flows and unredeemed codes, a batch at a time (called as new flows start). */
  async purgeExpired(db: Queryable, now: Date, limit: number): Promise<void> {
    await db.query(`DELETE FROM provider_flows WHERE state_hash IN (SELECT state_hash FROM provider_flows WHERE expires_at <= $1 LIMIT $2)`, [now, limit]);
    await db.query(`DELETE FROM provider_codes WHERE code_hash IN (SELECT code_hash FROM provider_codes WHERE expires_at <= $1 LIMIT $2)`, [now, limit]);
  },
};

const expiry = (now: Date) => new Date(now.getTime() + FLOW_TTL_SECONDS * 1000);
