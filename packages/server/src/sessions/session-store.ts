import type { Queryable } from '../db/db.ts';
import { date, nullableDate, type Row } from '../db/rows.ts';

export interface Session {
  id: string;
  userId: string;
  clientId: string;
  remember: boolean;
  createdAt: Date;
  lastUsedAt: Date;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
  userAgent: string | null;
  ip: string | null;
  revokedAt: Date | null;
  revokedReason: string | null;
  /** RFC 8176 methods the user authenticated with in this session (`pwd`, `otp`). */
  amr: string[];
  /** When the user last actively authenticated in this session (login, second factor, step-up). */
  authTime: Date;
  /** The provider the session was opened with (the `idp` claim); null for Tessera's own sign-in. */
  idp: string | null;
  /** The user's roles as they are now (read with the session, for the access token). */
  userRoles: string[];
  /** Start of the current one-minute refresh budget window (null: never refreshed). */
  refreshWindowStartedAt: Date | null;
  /** Rotations counted in that window. */
  refreshWindowCount: number;
}

export interface RefreshTokenRecord {
  tokenHash: string;
  sessionId: string;
  generation: number;
  issuedAt: Date;
  rotatedAt: Date | null;
  successorSealed: string | null;
}



const toSession = (r: Row): Session => ({
  id: r.id as string,
  userId: r.user_id as string,
  clientId: r.client_id as string,
  remember: r.remember as boolean,
  createdAt: date(r.created_at),
  lastUsedAt: date(r.last_used_at),
  idleExpiresAt: date(r.idle_expires_at),
  absoluteExpiresAt: date(r.absolute_expires_at),
  userAgent: (r.user_agent as string | null) ?? null,
  ip: (r.ip as string | null) ?? null,
  revokedAt: nullableDate(r.revoked_at),
  revokedReason: (r.revoked_reason as string | null) ?? null,
  amr: (r.amr as string[] | null) ?? ['pwd'],
  authTime: date(r.auth_time ?? r.created_at),
  idp: (r.idp as string | null | undefined) ?? null,
  userRoles: (r.user_roles as string[] | null) ?? [],
  refreshWindowStartedAt: nullableDate(r.refresh_window_started_at),
  refreshWindowCount: (r.refresh_window_count as number | undefined) ?? 0,
});

const toToken = (r: Row): RefreshTokenRecord => ({
  tokenHash: r.token_hash as string,
  sessionId: r.session_id as string,
  generation: r.generation as number,
  issuedAt: date(r.issued_at),
  rotatedAt: nullableDate(r.rotated_at),
  successorSealed: (r.successor_sealed as string | null) ?? null,
});

// The user's roles ride along (a primary-key look-up in the same statement), so issuing the
// next access token after a refresh costs no extra round trip.
const SESSION_COLUMNS =
  's.id, s.user_id, s.client_id, s.remember, s.created_at, s.last_used_at, s.idle_expires_at, s.absolute_expires_at, s.user_agent, s.ip, s.revoked_at, s.revoked_reason, s.refresh_window_started_at, s.refresh_window_count, ' +
  's.amr, s.auth_time, s.idp, (SELECT u.roles FROM users u WHERE u.id = s.user_id) AS user_roles';

/** A budget of rotations per session per window (RATE_LIMIT_REFRESH_SESSION_PER_MINUTE). */
export interface RefreshBudget {
  max: number;
  /** A window that started at or before this instant is over: the count starts again. */
  windowOpenAfter: Date;
}

// Sealed successors of a session's tokens rotated at or before the cutoff are useless (the
// grace window is over) and dangerous (with a copy of the database, one old token would open
// the chain up to the current one): every statement that changes a session scrubs them.
const scrubSealed = (session: string, cutoff: string) =>
  `UPDATE refresh_tokens t SET successor_sealed = NULL
   WHERE t.session_id = ${session} AND t.successor_sealed IS NOT NULL AND t.rotated_at <= ${cutoff}`;

export interface NewSession {
  id: string;
  userId: string;
  clientId: string;
  remember: boolean;
  now: Date;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
  userAgent: string | null;
  ip: string | null;
  /** Default `['pwd']`. */
  amr?: string[];
  /** Default `now`. */
  authTime?: Date;
  /** The provider of a social sign-in; default none. */
  idp?: string | null;
}

/** SQL for sessions and refresh_tokens; every function takes the connection or transaction. */
export const sessionStore = {
  /**
   * Creates the session only if the user still has the password hash the caller verified
   * and is not disabled. FOR SHARE makes a concurrent password change wait for us (and
   * then revoke this session) or makes us wait for it (and then insert nothing).
   */
  async insertForVerifiedUser(tx: Queryable, s: NewSession, verifiedHash: string | null): Promise<Session | undefined> {
    // A null hash: the caller proved the user otherwise (a passkey or a provider, in its
    // transaction) and only asks that the account still exist and not be disabled.
    const rows = await tx.query(
      `INSERT INTO sessions (id, user_id, client_id, remember, created_at, last_used_at, idle_expires_at, absolute_expires_at, user_agent, ip, amr, auth_time, idp)
       SELECT $1, u.id, $3, $4, $5, $5, $6, $7, $8, $9, $11, $12, $13 FROM users u
       WHERE u.id = $2 AND ($10::text IS NULL OR u.password_hash = $10) AND u.disabled_at IS NULL
       FOR SHARE
       RETURNING id, user_id, client_id, remember, created_at, last_used_at, idle_expires_at, absolute_expires_at, user_agent, ip, revoked_at, revoked_reason,
         refresh_window_started_at, refresh_window_count, amr, auth_time, idp, (SELECT u.roles FROM users u WHERE u.id = sessions.user_id) AS user_roles`,
      [s.id, s.userId, s.clientId, s.remember, s.now, s.idleExpiresAt, s.absoluteExpiresAt, s.userAgent, s.ip, verifiedHash, s.amr ?? ['pwd'], s.authTime ?? s.now, s.idp ?? null],
    );
    return rows[0] && toSession(rows[0]);
  },

  async insertToken(tx: Queryable, t: { tokenHash: string; sessionId: string; generation: number; issuedAt: Date }) {
    await tx.query('INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at) VALUES ($1, $2, $3, $4)', [
      t.tokenHash,
      t.sessionId,
      t.generation,
      t.issuedAt,
    ]);
  },

  async findToken(db: Queryable, tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const rows = await db.query('SELECT * FROM refresh_tokens WHERE token_hash = $1', [tokenHash]);
    return rows[0] && toToken(rows[0]);
  },

  /**
   * The common refresh in ONE statement (one round trip, no BEGIN/COMMIT): if the token
   * is current and its session alive, lock both, store the successor, mark the token
   * rotated and push the idle expiry. Returns undefined in every other case (unknown,
   * already rotated, revoked, expired) for the caller to sort out under a lock. A caller
   * that waited on the lock behind a concurrent rotation gets undefined too: FOR UPDATE
   * re-checks the WHERE clause against the row as that rotation left it.
   *
   * The same statement scrubs the session's sealed successors rotated at or before
   * `graceCutoff`, and counts the rotation against `budget`: a session over its budget is not
   * rotated (the caller finds out why under the lock). The scrub never touches the row being
   * rotated (its rotated_at is still NULL in the statement's snapshot).
   */
  async rotateIfCurrent(
    db: Queryable,
    r: { oldHash: string; newHash: string; successorSealed: string; now: Date; idleExpiresAt: Date; graceCutoff: Date; budget?: RefreshBudget },
  ): Promise<{ session: Session; generation: number } | undefined> {
    const rows = await db.query(
      `WITH current AS (
         SELECT t.token_hash, t.session_id, t.generation, s.absolute_expires_at
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
         WHERE t.token_hash = $1 AND t.rotated_at IS NULL
           AND s.revoked_at IS NULL AND s.idle_expires_at > $3 AND s.absolute_expires_at > $3
           AND ($7::int IS NULL OR s.refresh_window_started_at IS NULL OR s.refresh_window_started_at <= $8 OR s.refresh_window_count < $7)
         FOR UPDATE OF t, s
       ), successor AS (
         INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at)
         SELECT $2, session_id, generation + 1, $3 FROM current
       ), rotated AS (
         UPDATE refresh_tokens t SET rotated_at = $3, successor_sealed = $4 FROM current WHERE t.token_hash = current.token_hash
       ), scrubbed AS (
         ${scrubSealed('(SELECT session_id FROM current)', '$6')}
       )
       UPDATE sessions s SET last_used_at = $3, idle_expires_at = LEAST($5::timestamptz, current.absolute_expires_at),
         refresh_window_count = CASE WHEN s.refresh_window_started_at IS NULL OR s.refresh_window_started_at <= $8 THEN 1 ELSE s.refresh_window_count + 1 END,
         refresh_window_started_at = CASE WHEN s.refresh_window_started_at IS NULL OR s.refresh_window_started_at <= $8 THEN $3 ELSE s.refresh_window_started_at END
       FROM current WHERE s.id = current.session_id
       RETURNING ${SESSION_COLUMNS}, current.generation + 1 AS generation`,
      [r.oldHash, r.newHash, r.now, r.successorSealed, r.idleExpiresAt, r.graceCutoff, r.budget?.max ?? null, r.budget?.windowOpenAfter ?? r.now],
    );
    return rows[0] && { session: toSession(rows[0]), generation: rows[0].generation as number };
  },

  /**
   * Locks a refresh token and its session in one round trip and returns their current
   * versions. FOR UPDATE re-reads both rows after waiting for a lock, so a caller that
   * queued behind a concurrent rotation sees that rotation. Every state change of a
   * session takes the session row lock, so they are serialised across replicas.
   */
  async lockByToken(tx: Queryable, tokenHash: string): Promise<{ session: Session; token: RefreshTokenRecord } | undefined> {
    const rows = await tx.query(
      `SELECT ${SESSION_COLUMNS}, t.token_hash, t.session_id, t.generation, t.issued_at, t.rotated_at, t.successor_sealed
       FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
       WHERE t.token_hash = $1
       FOR UPDATE OF t, s`,
      [tokenHash],
    );
    return rows[0] && { session: toSession(rows[0]), token: toToken(rows[0]) };
  },

  async findById(db: Queryable, id: string): Promise<Session | undefined> {
    const rows = await db.query(`SELECT ${SESSION_COLUMNS} FROM sessions s WHERE s.id = $1`, [id]);
    return rows[0] && toSession(rows[0]);
  },

  /** A grace refresh: the session was used, and its sealed successors rotated at or before `graceCutoff` go. */
  async touch(tx: Queryable, id: string, now: Date, idleExpiresAt: Date, graceCutoff: Date): Promise<Session> {
    const rows = await tx.query(
      `WITH scrubbed AS (${scrubSealed('$1', '$4')})
       UPDATE sessions s SET last_used_at = $2, idle_expires_at = $3 WHERE s.id = $1 RETURNING ${SESSION_COLUMNS}`,
      [id, now, idleExpiresAt, graceCutoff],
    );
    return toSession(rows[0]!);
  },

  /** Step-up: the new amr and auth_time, only while the session is live. */
  async raise(db: Queryable, r: { id: string; userId: string; amr: string[]; now: Date }): Promise<Session | undefined> {
    const rows = await db.query(
      `UPDATE sessions s SET amr = $3, auth_time = $4
       WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.idle_expires_at > $4 AND s.absolute_expires_at > $4
       RETURNING ${SESSION_COLUMNS}`,
      [r.id, r.userId, r.amr, r.now],
    );
    return rows[0] && toSession(rows[0]);
  },

  /**
   * Marks a live session revoked; returns it, or undefined if it was already revoked. A dead
   * session needs no successor: all of its sealed successors go in the same statement.
   */
  async revoke(db: Queryable, id: string, now: Date, reason: string): Promise<Session | undefined> {
    const rows = await db.query(
      `WITH revoked AS (
         UPDATE sessions s SET revoked_at = $2, revoked_reason = $3 WHERE s.id = $1 AND s.revoked_at IS NULL RETURNING ${SESSION_COLUMNS}
       ), scrubbed AS (${scrubSealed('(SELECT id FROM revoked)', "'infinity'::timestamptz")})
       SELECT * FROM revoked`,
      [id, now, reason],
    );
    return rows[0] && toSession(rows[0]);
  },

  async revokeAllForUser(db: Queryable, userId: string, now: Date, reason: string): Promise<Session[]> {
    const rows = await db.query(
      `WITH revoked AS (
         UPDATE sessions s SET revoked_at = $2, revoked_reason = $3 WHERE s.user_id = $1 AND s.revoked_at IS NULL RETURNING ${SESSION_COLUMNS}
       ), scrubbed AS (
         UPDATE refresh_tokens t SET successor_sealed = NULL FROM revoked WHERE t.session_id = revoked.id AND t.successor_sealed IS NOT NULL
       )
       SELECT * FROM revoked`,
      [userId, now, reason],
    );
    return rows.map(toSession);
  },

  async listLive(db: Queryable, userId: string, now: Date): Promise<Session[]> {
    const rows = await db.query(
      `SELECT ${SESSION_COLUMNS} FROM sessions s
       WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.idle_expires_at > $2 AND s.absolute_expires_at > $2
       ORDER BY s.created_at DESC, s.id`,
      [userId, now],
    );
    return rows.map(toSession);
  },
};
