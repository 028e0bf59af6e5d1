import crypto from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Db, Queryable } from '../db/db.ts';
import { AuthError } from '../errors.ts';
import {
  generateRefreshToken,
  hashRefreshToken,
  looksLikeRefreshToken,
  openSuccessor,
  sealSuccessor,
} from './refresh-token.ts';
import { sessionStore, type RefreshBudget, type Session } from './session-store.ts';

/**
 * Runs in the transaction that revoked `sessions` (possibly none), before it commits: where
 * the revocations' durable outbox rows are written (AuthService, PendingRevocations).
 */
export type WithinRevocation = (tx: Queryable, sessions: Session[]) => Promise<void>;

export interface SessionLifetimes {
  /** Unused this long (seconds) → dead. */
  idleSeconds: number;
  /** Dead this long after login whatever happens (seconds), for remember: true. */
  absoluteSeconds: number;
  /** Absolute lifetime for remember: false (a browser-session cookie). */
  shortSeconds: number;
  /** A rotated token presented again within this many seconds is a concurrent refresh, not theft. */
  graceSeconds: number;
}

/** The lifetimes as configured (REFRESH_* variables). */
export function sessionLifetimes(config: {
  refreshIdleTtl: number;
  refreshAbsoluteTtl: number;
  refreshShortTtl: number;
  refreshGracePeriod: number;
}): SessionLifetimes {
  return {
    idleSeconds: config.refreshIdleTtl,
    absoluteSeconds: config.refreshAbsoluteTtl,
    shortSeconds: config.refreshShortTtl,
    graceSeconds: config.refreshGracePeriod,
  };
}

export interface SessionWithToken {
  session: Session;
  refreshToken: string;
  /** Seconds until the session dies if not used again (idle or absolute, whichever is first). */
  refreshExpiresIn: number;
}

export interface NewSessionRequest {
  userId: string;
  /** The hash read when the user was authenticated (null: none); a change since then refuses the session. */
  verifiedPasswordHash: string | null;
  clientId: string;
  remember: boolean;
  userAgent: string | null;
  ip: string | null;
  /** RFC 8176 methods the user just authenticated with. Default `['pwd']`. */
  amr?: string[];
  /** The provider of a social sign-in (the `idp` claim of the session's access tokens). */
  idp?: string;
}

export type RefreshOutcome =
  | ({ kind: 'rotated' } & SessionWithToken)
  /** The token was rotated moments ago (another tab, another replica): same successor. */
  | ({ kind: 'grace' } & SessionWithToken)
  /** A rotated token came back after the grace window: the session was revoked. */
  | { kind: 'reused'; session: Session };

/** What ending a session by one of its refresh tokens did (logout, RFC 7009 revocation). */
export type EndOutcome =
  /** The session was live (or merely expired) and is now revoked. */
  | { kind: 'revoked'; session: Session }
  /** The token had been rotated before the grace window: reuse, the session is revoked as such. */
  | { kind: 'reused'; session: Session }
  /** Already revoked: nothing changed, nothing to publish or audit. */
  | { kind: 'unchanged'; session: Session };

export interface SessionLimits {
  /** Rotations per session per minute (a client stuck in a refresh loop); undefined: no limit. */
  refreshesPerMinute?: number;
}

const REFRESH_WINDOW_MS = 60_000;

// A chain longer than this inside one grace window is not a browser with many tabs.
const MAX_GRACE_CHAIN = 64;

export class SessionService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly lifetimes: SessionLifetimes,
    private readonly limits: SessionLimits = {},
  ) {}

  /** Opens a session for a user whose password was just verified (see insertForVerifiedUser). */
  create(request: NewSessionRequest): Promise<SessionWithToken | undefined> {
    return this.open(request, request.verifiedPasswordHash);
  }

  /**
   * Opens a session for a user proven otherwise than by password (a passkey): `proof` runs
   * first in the same transaction (the passkey's counter compare-and-set), so the proof and
   * the session commit together or not at all. Undefined when the proof fails or the account
   * is gone or disabled.
   */
  createWithProof(request: Omit<NewSessionRequest, 'verifiedPasswordHash'>, proof: (tx: Queryable) => Promise<boolean>): Promise<SessionWithToken | undefined> {
    return this.open(request, null, proof);
  }

  private async open(request: Omit<NewSessionRequest, 'verifiedPasswordHash'>, verifiedHash: string | null, proof?: (tx: Queryable) => Promise<boolean>): Promise<SessionWithToken | undefined> {
    const now = this.clock.now();
    const absoluteSeconds = request.remember ? this.lifetimes.absoluteSeconds : this.lifetimes.shortSeconds;
    const absoluteExpiresAt = new Date(now + absoluteSeconds * 1000);
    const idleExpiresAt = new Date(Math.min(now + this.lifetimes.idleSeconds * 1000, absoluteExpiresAt.getTime()));
    const refreshToken = generateRefreshToken();
    return this.db.transaction(async (tx) => {
      if (proof && !(await proof(tx))) return undefined;
      const session = await sessionStore.insertForVerifiedUser(
        tx,
        {
          id: crypto.randomUUID(),
          userId: request.userId,
          clientId: request.clientId,
          remember: request.remember,
          now: new Date(now),
          idleExpiresAt,
          absoluteExpiresAt,
          userAgent: request.userAgent,
          ip: request.ip,
          amr: request.amr ?? ['pwd'],
          idp: request.idp ?? null,
          authTime: new Date(now),
        },
        verifiedHash,
      );
      if (!session) return undefined;
      await sessionStore.insertToken(tx, {
        tokenHash: hashRefreshToken(refreshToken),
        sessionId: session.id,
        generation: 0,
        issuedAt: new Date(now),
      });
      return { session, refreshToken, refreshExpiresIn: this.expiresIn(session, now) };
    });
  }

  /**
   * Exchanges a refresh token for its successor. Concurrent calls with the same token (on
   * any replica) queue on the session's row lock; the first rotates, the others find the
   * token rotated within the grace window and are handed the same current token, so the
   * session never forks into branches.
   */
  /** `onReuse` runs in the transaction that revokes a session for reuse (its durable outbox rows). */
  async refresh(token: string, onReuse?: WithinRevocation): Promise<RefreshOutcome> {
    if (!looksLikeRefreshToken(token)) throw new AuthError('invalid_grant', 'The refresh token is invalid');
    const tokenHash = hashRefreshToken(token);

    // Fast path, one statement: the token is current and the session alive (nearly always).
    const fast = await this.rotateIfCurrent(this.db, token, tokenHash, this.clock.now());
    if (fast) return fast;

    // Everything else — unknown, rotated moments ago (grace) or long ago (reuse), revoked,
    // expired — is decided under the session's lock.
    return this.db.transaction(async (tx): Promise<RefreshOutcome> => {
      const locked = await sessionStore.lockByToken(tx, tokenHash);
      if (!locked) throw new AuthError('invalid_grant', 'The refresh token is invalid');
      const { session, token: record } = locked;
      const now = this.clock.now();
      this.assertAlive(session, now);

      if (record.rotatedAt === null) {
        // The fast path refuses a session over its refresh budget: say so (nothing rotated,
        // the token stays current and can be presented again later).
        this.assertWithinBudget(session, now);
        // Otherwise only if the clock stepped back since the fast path: rotate here, under our lock.
        const rotated = await this.rotateIfCurrent(tx, token, tokenHash, now);
        if (!rotated) throw new AuthError('invalid_grant', 'The refresh token is invalid');
        return rotated;
      }

      if (now - record.rotatedAt.getTime() <= this.lifetimes.graceSeconds * 1000) {
        const current = await this.followChain(tx, token, record.successorSealed);
        const touched = await this.touch(tx, session, now);
        return { kind: 'grace', session: touched, refreshToken: current, refreshExpiresIn: this.expiresIn(touched, now) };
      }

      // Reuse after the grace window: someone holds a token that was already exchanged.
      // Either the thief or the victim is presenting it; we cannot tell, so the session dies.
      const revoked = await sessionStore.revoke(tx, session.id, new Date(now), 'refresh_token_reused');
      if (revoked) await onReuse?.(tx, [revoked]);
      return { kind: 'reused', session: revoked ?? session };
    });
  }

  /** Rotates a current token of a live session in one statement; undefined otherwise. */
  private async rotateIfCurrent(db: Queryable, token: string, tokenHash: string, now: number): Promise<RefreshOutcome | undefined> {
    const successor = generateRefreshToken();
    const rotated = await sessionStore.rotateIfCurrent(db, {
      oldHash: tokenHash,
      newHash: hashRefreshToken(successor),
      successorSealed: sealSuccessor(token, successor),
      now: new Date(now),
      idleExpiresAt: new Date(now + this.lifetimes.idleSeconds * 1000),
      graceCutoff: this.graceCutoff(now),
      ...(this.limits.refreshesPerMinute !== undefined ? { budget: this.budget(this.limits.refreshesPerMinute, now) } : {}),
    });
    return rotated && { kind: 'rotated', session: rotated.session, refreshToken: successor, refreshExpiresIn: this.expiresIn(rotated.session, now) };
  }

  /** Walks rotated tokens forward to the session's current token. */
  private async followChain(tx: Queryable, token: string, sealed: string | null) {
    let current = token;
    let nextSealed = sealed;
    for (let step = 0; step < MAX_GRACE_CHAIN; step++) {
      const next = nextSealed ? openSuccessor(current, nextSealed) : undefined;
      if (!next) throw new AuthError('invalid_grant', 'The refresh token is invalid');
      const record = await sessionStore.findToken(tx, hashRefreshToken(next));
      if (!record) throw new AuthError('invalid_grant', 'The refresh token is invalid');
      if (record.rotatedAt === null) return next;
      current = next;
      nextSealed = record.successorSealed;
    }
    throw new AuthError('invalid_grant', 'The refresh token is invalid');
  }

  private async touch(tx: Queryable, session: Session, now: number) {
    return sessionStore.touch(tx, session.id, new Date(now), this.idleExpiry(session, now), this.graceCutoff(now));
  }

  /** Tokens rotated at or before this instant are past the grace window: their sealed successors must go. */
  private graceCutoff(now: number): Date {
    return new Date(now - this.lifetimes.graceSeconds * 1000);
  }

  private budget(max: number, now: number): RefreshBudget {
    return { max, windowOpenAfter: new Date(now - REFRESH_WINDOW_MS) };
  }

  private assertWithinBudget(session: Session, now: number): void {
    const max = this.limits.refreshesPerMinute;
    const started = session.refreshWindowStartedAt?.getTime();
    if (max === undefined || started === undefined || started <= now - REFRESH_WINDOW_MS || session.refreshWindowCount < max) return;
    const retryAfter = Math.max(1, Math.ceil((started + REFRESH_WINDOW_MS - now) / 1000));
    throw new AuthError('rate_limited', `Too many refreshes of this session; retry in ${retryAfter} s`, { retry_after: retryAfter });
  }

  /** Used now: idle for at most the idle lifetime more, never past the absolute end. */
  private idleExpiry(session: Session, now: number): Date {
    return new Date(Math.min(now + this.lifetimes.idleSeconds * 1000, session.absoluteExpiresAt.getTime()));
  }

  private assertAlive(session: Session, now: number): void {
    if (session.revokedAt) throw new AuthError('invalid_grant', 'The session has ended');
    if (now >= session.idleExpiresAt.getTime() || now >= session.absoluteExpiresAt.getTime()) {
      throw new AuthError('session_expired', 'The session has expired; log in again');
    }
  }

  expiresIn(session: Session, now: number): number {
    const end = Math.min(session.idleExpiresAt.getTime(), session.absoluteExpiresAt.getTime());
    return Math.max(0, Math.floor((end - now) / 1000));
  }

  /**
   * Ends the session a refresh token belongs to (logout, RFC 7009 revocation), under the
   * session's lock like a refresh. A token rotated before the grace window is reuse, as it
   * would be at refresh: the session ends as `refresh_token_reused`. An already revoked
   * session is left alone, so a repeated logout publishes and audits nothing. Undefined for
   * an unknown token.
   */
  async endByRefreshToken(token: string, reason: string, within?: WithinRevocation): Promise<EndOutcome | undefined> {
    if (!looksLikeRefreshToken(token)) return undefined;
    const tokenHash = hashRefreshToken(token);
    return this.db.transaction(async (tx): Promise<EndOutcome | undefined> => {
      const locked = await sessionStore.lockByToken(tx, tokenHash);
      if (!locked) return undefined;
      const { session, token: record } = locked;
      if (session.revokedAt) return { kind: 'unchanged', session };
      const now = this.clock.now();
      const expired = now >= session.idleExpiresAt.getTime() || now >= session.absoluteExpiresAt.getTime();
      const reused = !expired && record.rotatedAt !== null && now - record.rotatedAt.getTime() > this.lifetimes.graceSeconds * 1000;
      const revoked = await sessionStore.revoke(tx, session.id, new Date(now), reused ? 'refresh_token_reused' : reason);
      if (!revoked) return { kind: 'unchanged', session };
      await within?.(tx, [revoked]);
      return { kind: reused ? 'reused' : 'revoked', session: revoked };
    });
  }

  /** The session of a refresh token that is live and not yet rotated (introspection). */
  async findLiveByCurrentRefreshToken(token: string): Promise<{ session: Session; issuedAt: Date } | undefined> {
    if (!looksLikeRefreshToken(token)) return undefined;
    const record = await sessionStore.findToken(this.db, hashRefreshToken(token));
    if (!record || record.rotatedAt !== null) return undefined;
    const session = await sessionStore.findById(this.db, record.sessionId);
    return session && this.isLive(session) ? { session, issuedAt: record.issuedAt } : undefined;
  }

  findById(id: string): Promise<Session | undefined> {
    return sessionStore.findById(this.db, id);
  }

  /** Revokes one session; returns it, or undefined when it is unknown or was already revoked (nothing changed). */
  async revoke(sessionId: string, reason: string, within?: WithinRevocation): Promise<Session | undefined> {
    const now = new Date(this.clock.now());
    if (!within) return sessionStore.revoke(this.db, sessionId, now, reason);
    return this.db.transaction(async (tx) => {
      const revoked = await sessionStore.revoke(tx, sessionId, now, reason);
      if (revoked) await within(tx, [revoked]);
      return revoked;
    });
  }

  /**
   * A fresh second factor on a live session (step-up): adds `method` to its amr and sets
   * auth_time to now, for this and every later access token of the session. Undefined when
   * the session is not the user's or no longer live.
   */
  async raise(sessionId: string, userId: string, method: string | string[]): Promise<Session | undefined> {
    const session = await sessionStore.findById(this.db, sessionId);
    if (!session || session.userId !== userId || !this.isLive(session)) return undefined;
    const amr = [...new Set([...session.amr, ...[method].flat()])];
    return sessionStore.raise(this.db, { id: sessionId, userId, amr, now: new Date(this.clock.now()) });
  }

  async revokeAllForUser(userId: string, reason: string, within?: WithinRevocation): Promise<Session[]> {
    const now = new Date(this.clock.now());
    if (!within) return sessionStore.revokeAllForUser(this.db, userId, now, reason);
    return this.db.transaction(async (tx) => {
      const revoked = await sessionStore.revokeAllForUser(tx, userId, now, reason);
      await within(tx, revoked);
      return revoked;
    });
  }

  listLive(userId: string): Promise<Session[]> {
    return sessionStore.listLive(this.db, userId, new Date(this.clock.now()));
  }

  isLive(session: Session): boolean {
    const now = this.clock.now();
    return !session.revokedAt && now < session.idleExpiresAt.getTime() && now < session.absoluteExpiresAt.getTime();
  }
}
