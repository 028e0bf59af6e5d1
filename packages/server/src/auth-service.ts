// The use cases the HTTP routes call: one method per endpoint. It composes users,
// sessions, access tokens and the denylist, and owns the audit events.
import { auditRecord, type AuditEvent, type AuditFields } from './audit.ts';
import { toSeconds, type Clock } from './clock.ts';
import { AuthError } from './errors.ts';
import type { Logger } from './logger.ts';
import { noopAuthMetrics, type AuthMetrics } from './metrics/metrics.ts';
import type { Denylist, DenylistEntry } from './revocation/denylist.ts';
import { PendingRevocations } from './revocation/pending.ts';
import type { SessionService, SessionWithToken, WithinRevocation } from './sessions/session-service.ts';
import type { Session } from './sessions/session-store.ts';
import type { MfaRequired, MfaService } from './mfa/mfa-service.ts';
import type { LoginThrottle } from './throttle/login-throttle.ts';
import type { IssueAccessToken } from './tokens/access-token.ts';
import type { Queryable } from './db/db.ts';
import { toPublicUser, type PublicUser, type UserService } from './users/user-service.ts';
import type { User } from './users/user-store.ts';
import { MAX_CLOCK_SKEW_SECONDS, type AccessTokenClaims } from '@tessera/verifier';

export interface RequestContext {
  userAgent: string | null;
  ip: string | null;
  requestId?: string;
}

export interface TokenPair {
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  refreshExpiresIn: number;
  sessionId: string;
  remember: boolean;
}

export interface SessionView {
  id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  user_agent: string | null;
  ip: string | null;
  current: boolean;
}

export interface AuthServiceDeps {
  users: UserService;
  sessions: SessionService;
  issueAccessToken: IssueAccessToken;
  denylist: Denylist;
  clock: Clock;
  logger: Logger;
  clientId: string;
  accessTokenTtl: number;
  /** Counters for logins and refreshes; the CLI and unit tests leave it out. */
  metrics?: AuthMetrics;
  /** Per-account back-off on password checks; absent when RATE_LIMIT_ENABLED=false (and in the CLI). */
  throttle?: LoginThrottle;
  /** Second factor: a correct password on an account with one answers a challenge, not tokens. */
  mfa?: Pick<MfaService, 'challengeFor'>;
  /** Email verification (account/email-service.ts); without it, no verification mail is queued. */
  emailVerification?: EmailVerificationHooks;
}

export interface EmailVerificationHooks {
  /** REQUIRE_VERIFIED_EMAIL: a correct password on an unverified account answers 403 email_not_verified. */
  required: boolean;
  /** In the registration transaction: queues the verification mail (so it is never lost). */
  onRegister(tx: Queryable, user: User, ctx: RequestContext): Promise<void>;
  /** After the registration committed (wakes the mail drainer). */
  afterRegister(): void;
  /** A correct password on an unverified account while verification is required: mail a new link. */
  onUnverifiedLogin(user: User, ctx: RequestContext): Promise<void>;
}

// Denylist entries outlive the last access token they can affect by the clock skew every
// verifier is bounded by.
const SKEW_MS = MAX_CLOCK_SKEW_SECONDS * 1000;

export class AuthService {
  private readonly metrics: AuthMetrics;

  constructor(private readonly deps: AuthServiceDeps) {
    this.metrics = deps.metrics ?? noopAuthMetrics;
  }

  /** The `client_id` of sessions opened by a login. */
  get clientId(): string {
    return this.deps.clientId;
  }

  async register(email: string, password: string, ctx: RequestContext): Promise<PublicUser> {
    const verification = this.deps.emailVerification;
    const user = await this.deps.users.register(email, password, verification && ((tx, created) => verification.onRegister(tx, created, ctx)));
    this.audit('user.registered', { user_id: user.id }, ctx);
    verification?.afterRegister();
    return toPublicUser(user);
  }

  async login(
    input: { email: string; password: string; remember: boolean; token_delivery?: 'body' | 'cookie' },
    ctx: RequestContext,
  ): Promise<TokenPair | MfaRequired> {
    let authenticated;
    try {
      // Before any look-up, and keyed by the email whether or not it is registered: a
      // throttled answer is the same, and as fast, for real and unknown accounts.
      await this.deps.throttle?.beforeLogin(input.email, ctx.ip);
      authenticated = await this.deps.users.authenticate(input.email, input.password);
    } catch (err) {
      if (err instanceof AuthError) {
        this.metrics.login(err.code === 'rate_limited' ? 'throttled' : 'failed');
        this.audit('login.failed', { user_id: null, reason: err.code }, ctx);
      }
      throw err;
    }
    if (authenticated.passwordHash !== authenticated.user.passwordHash) {
      // UserService upgraded a hash made with weaker argon2 parameters.
      this.audit('password.rehashed', { user_id: authenticated.user.id }, ctx);
    }
    const verification = this.deps.emailVerification;
    if (verification?.required && authenticated.user.emailVerifiedAt === null) {
      // Only after a correct password, so this answer reveals nothing a login does not.
      await this.deps.throttle?.loginSucceeded(input.email, ctx.ip);
      this.metrics.login('failed');
      this.audit('login.failed', { user_id: authenticated.user.id, reason: 'email_not_verified' }, ctx);
      await verification.onUnverifiedLogin(authenticated.user, ctx);
      throw new AuthError('email_not_verified', 'Verify your email address first: a new link has been sent to it');
    }
    // --- second factor (mfa/): the password was right; the login continues at /auth/mfa/verify.
    const challenge = await this.deps.mfa?.challengeFor({
      userId: authenticated.user.id,
      passwordHash: authenticated.passwordHash,
      remember: input.remember,
      tokenDelivery: input.token_delivery ?? 'body',
    });
    if (challenge) {
      await this.deps.throttle?.loginSucceeded(input.email, ctx.ip);
      this.audit('login.mfa_required', { user_id: authenticated.user.id }, ctx);
      return challenge;
    }
    // --- end second factor
    const opened = await this.deps.sessions.create({
      userId: authenticated.user.id,
      verifiedPasswordHash: authenticated.passwordHash,
      clientId: this.deps.clientId,
      remember: input.remember,
      ...ctx,
    });
    // The password changed (or the account was disabled) between the check and now.
    if (!opened) {
      this.metrics.login('failed');
      this.audit('login.failed', { user_id: authenticated.user.id, reason: 'password_changed_concurrently' }, ctx);
      throw new AuthError('invalid_credentials', 'Invalid email or password');
    }
    await this.deps.throttle?.loginSucceeded(input.email, ctx.ip);
    this.metrics.login('succeeded');
    this.audit('login.succeeded', { user_id: authenticated.user.id, session_id: opened.session.id }, ctx);
    return this.pairFor(opened);
  }

  async refresh(refreshToken: string, ctx: RequestContext): Promise<TokenPair> {
    const pending = new PendingRevocations(this.deps.denylist);
    const outcome = await this.deps.sessions.refresh(refreshToken, this.recordSessions(pending));
    this.metrics.refresh(outcome.kind);
    if (outcome.kind === 'reused') {
      await this.reuseDetected(outcome.session, ctx, pending.size > 0 ? pending : undefined);
      throw new AuthError('refresh_token_reused', 'The refresh token was already used; the session has been revoked');
    }
    this.audit('session.refreshed', { user_id: outcome.session.userId, session_id: outcome.session.id, grace: outcome.kind === 'grace' }, ctx);
    return this.pairFor(outcome);
  }

  /**
   * Logout with a refresh token: unknown or dead tokens are fine (logout is idempotent). A
   * token rotated before the grace window is reuse, exactly as at refresh: the session dies
   * as `refresh_token_reused` and the caller is told so.
   */
  async logoutWithRefreshToken(refreshToken: string, ctx: RequestContext): Promise<void> {
    if ((await this.endSessionByRefreshToken(refreshToken, 'logout', ctx)) === 'reused') {
      throw new AuthError('refresh_token_reused', 'The refresh token was already used; the session has been revoked');
    }
  }

  /**
   * Ends the session of a refresh token (logout, /oauth/revoke). Publishes and audits only
   * when it changed something: an already dead session, presented again and again, costs a
   * look-up and nothing else.
   */
  async endSessionByRefreshToken(refreshToken: string, reason: string, ctx: RequestContext): Promise<'ended' | 'reused' | 'unchanged'> {
    const pending = new PendingRevocations(this.deps.denylist);
    const outcome = await this.deps.sessions.endByRefreshToken(refreshToken, reason, this.recordSessions(pending));
    if (!outcome || outcome.kind === 'unchanged') return 'unchanged';
    if (outcome.kind === 'reused') {
      this.metrics.refresh('reused');
      await this.reuseDetected(outcome.session, ctx, pending);
      return 'reused';
    }
    await pending.publish();
    this.audit('session.revoked', { user_id: outcome.session.userId, session_id: outcome.session.id, reason }, ctx);
    return 'ended';
  }

  /** A rotated token came back after the grace window; its session is already revoked in SQL. */
  private async reuseDetected(session: Session, ctx: RequestContext, pending?: PendingRevocations): Promise<void> {
    // Logged before the denylist write: if that write fails, a replay finds the session
    // already revoked in SQL and never reaches this branch again, so the event would be lost.
    this.deps.logger.warn(
      auditRecord('session.reuse_detected', { user_id: session.userId, session_id: session.id }, ctx),
      'a rotated refresh token was presented after the grace window; session revoked',
    );
    if (pending) await pending.publish();
    else await this.denySession(session);
  }

  async logoutWithAccessToken(claims: AccessTokenClaims, ctx: RequestContext): Promise<void> {
    await this.endSession(claims.sid, 'logout', ctx);
  }

  async logoutAll(claims: AccessTokenClaims, ctx: RequestContext): Promise<void> {
    await this.endAllSessions(claims.sub, 'logout_all', ctx, claims.sid);
  }

  /** Ends every session of a user on every replica (logout-all, operator revoke, disable). Returns how many. */
  async endAllSessions(userId: string, reason: string, ctx: RequestContext, requestingSession: string | null = null): Promise<number> {
    const pending = new PendingRevocations(this.deps.denylist);
    const revoked = await this.deps.sessions.revokeAllForUser(userId, reason, this.recordUser(pending, userId));
    await pending.publish();
    this.audit('session.revoked_all', { user_id: userId, session_id: requestingSession, count: revoked.length, reason }, ctx);
    return revoked.length;
  }

  async me(claims: AccessTokenClaims): Promise<PublicUser> {
    const user = await this.deps.users.findById(claims.sub);
    if (!user || user.disabledAt) throw new AuthError('invalid_token', 'The access token is invalid: unknown user');
    return toPublicUser(user);
  }

  /**
   * Checks the current password, stores the new one, kills every session and access token
   * of the user on every replica, and opens a fresh session for the caller.
   */
  async changePassword(claims: AccessTokenClaims, current: string, next: string, ctx: RequestContext): Promise<TokenPair> {
    const user = await this.deps.users.findById(claims.sub);
    if (!user || user.disabledAt) throw new AuthError('invalid_token', 'The access token is invalid: unknown user');
    try {
      await this.checkPassword(user, current, 'current_password');
    } catch (err) {
      const reason = err instanceof AuthError && err.code === 'rate_limited' ? 'rate_limited' : 'wrong_current_password';
      this.audit('password.change_failed', { user_id: user.id, session_id: claims.sid, reason }, ctx);
      throw err;
    }
    // checkPassword refuses an account without a password; this tells the compiler so.
    if (user.passwordHash === null) throw new AuthError('invalid_credentials', 'current_password is not correct');
    const newHash = await this.deps.users.hashPassword(next);
    const currentSession = await this.deps.sessions.findById(claims.sid);
    const pending = new PendingRevocations(this.deps.denylist);
    const revoked = await this.deps.users.replacePassword(user.id, user.passwordHash, newHash, this.recordUser(pending, user.id));
    if (!revoked) throw new AuthError('invalid_credentials', 'The password was changed concurrently; try again');
    await pending.publish();
    this.audit('password.changed', { user_id: user.id, session_id: claims.sid, sessions_revoked: revoked.length }, ctx);
    const opened = await this.deps.sessions.create({
      userId: user.id,
      verifiedPasswordHash: newHash,
      clientId: this.deps.clientId,
      remember: currentSession?.remember ?? true,
      ...ctx,
    });
    if (!opened) throw new AuthError('invalid_credentials', 'The password was changed concurrently; log in again');
    return this.pairFor(opened);
  }

  /**
   * The password of a signed-in user, asked again (password change, email change, account
   * deletion). Throttled per user: a stolen access token must not become an unlimited
   * password-guessing oracle. Throws rate_limited, or invalid_credentials naming `field`.
   */
  async checkPassword(user: User, password: string, field: string): Promise<void> {
    await this.deps.throttle?.beforePasswordCheck(user.id);
    if (!(await this.deps.users.verifyPassword(user, password))) {
      throw new AuthError('invalid_credentials', `${field} is not correct`, { errors: [{ field, message: 'is not correct' }] });
    }
    await this.deps.throttle?.passwordCheckSucceeded(user.id);
  }

  async listSessions(claims: AccessTokenClaims): Promise<SessionView[]> {
    const sessions = await this.deps.sessions.listLive(claims.sub);
    return sessions.map((s) => this.view(s, claims.sid));
  }

  /** Ends one of the caller's own sessions. Another user's id answers like an unknown one. */
  async deleteSession(claims: AccessTokenClaims, sessionId: string, ctx: RequestContext): Promise<void> {
    const session = await this.deps.sessions.findById(sessionId);
    if (!session || session.userId !== claims.sub || !this.deps.sessions.isLive(session)) {
      throw new AuthError('not_found', 'No such session');
    }
    await this.endSession(session.id, 'deleted', ctx);
  }

  /**
   * Revokes a session everywhere: SQL first (no more refreshes), then the denylist (its
   * access tokens). An already revoked session changes nothing: no publication, no audit line.
   */
  async endSession(sessionId: string, reason: string, ctx: RequestContext): Promise<void> {
    const pending = new PendingRevocations(this.deps.denylist);
    const session = await this.deps.sessions.revoke(sessionId, reason, this.recordSessions(pending));
    if (!session) return;
    await pending.publish();
    this.audit('session.revoked', { user_id: session.userId, session_id: session.id, reason }, ctx);
  }

  private async denySession(session: Session): Promise<void> {
    await this.deps.denylist.revoke(this.sessionEntry(session));
  }

  private sessionEntry(session: Session): DenylistEntry {
    // Every access token of the session was issued before it was revoked, so none is
    // alive after revoked_at + TTL.
    const revokedAt = session.revokedAt?.getTime() ?? this.deps.clock.now();
    return { kind: 'session', id: session.id, until: this.untilFrom(revokedAt) };
  }

  private userEntries(userId: string, sessions: Session[], options: { throughThisSecond?: boolean } = {}): DenylistEntry[] {
    const now = this.deps.clock.now();
    // Seconds granularity: iat < before. Tokens issued earlier in this very second
    // belong to the sessions revoked one by one below — unless no session is revoked
    // (a role taken away), when this second's tokens must go too.
    const before = toSeconds(now) + (options.throughThisSecond ? 1 : 0);
    return [{ kind: 'user', id: userId, before, until: this.untilFrom(now) }, ...sessions.map((s) => this.sessionEntry(s))];
  }

  /** The revoked sessions' entries, into the durable outbox in the revoking transaction. */
  private recordSessions(pending: PendingRevocations): WithinRevocation {
    return (tx, sessions) => pending.record(tx, sessions.map((s) => this.sessionEntry(s)));
  }

  /** The user's cut-off and the revoked sessions' entries, likewise. */
  private recordUser(pending: PendingRevocations, userId: string): WithinRevocation {
    return (tx, sessions) => pending.record(tx, this.userEntries(userId, sessions));
  }

  /**
   * The revocations of a state change its caller runs in its own transaction (password
   * reset, operator set-password, account deletion): recordUser() inside it — the user's
   * cut-off and the revoked sessions go to the durable outbox with the change — and
   * publish() once it has committed.
   */
  userRevocations(options: { throughThisSecond?: boolean } = {}): {
    recordUser(tx: Queryable, userId: string, sessions: Session[]): Promise<void>;
    publish(): Promise<void>;
  } {
    const pending = new PendingRevocations(this.deps.denylist);
    return {
      recordUser: (tx, userId, sessions) => pending.record(tx, this.userEntries(userId, sessions, options)),
      publish: () => pending.publish(),
    };
  }

  /**
   * Kills the listed sessions, and every access token of the user issued before now. For
   * callers whose state change has already committed (account recovery, roles): the
   * durable outbox only gets what Redis does not confirm.
   */
  async denyUser(userId: string, sessions: Session[], options: { throughThisSecond?: boolean } = {}): Promise<void> {
    const pending = new PendingRevocations(this.deps.denylist);
    pending.add(this.userEntries(userId, sessions, options));
    await pending.publish();
  }

  private untilFrom(ms: number): number {
    return ms + this.deps.accessTokenTtl * 1000 + SKEW_MS;
  }

  async pairFor(opened: SessionWithToken): Promise<TokenPair> {
    const access = await this.deps.issueAccessToken({
      userId: opened.session.userId,
      sessionId: opened.session.id,
      clientId: opened.session.clientId,
      amr: opened.session.amr,
      authTime: toSeconds(opened.session.authTime.getTime()),
      roles: opened.session.userRoles,
      idp: opened.session.idp,
    });
    return {
      accessToken: access.token,
      expiresIn: access.expiresIn,
      refreshToken: opened.refreshToken,
      refreshExpiresIn: opened.refreshExpiresIn,
      sessionId: opened.session.id,
      remember: opened.session.remember,
    };
  }

  private view(s: Session, currentSid: string): SessionView {
    const expires = Math.min(s.idleExpiresAt.getTime(), s.absoluteExpiresAt.getTime());
    return {
      id: s.id,
      created_at: s.createdAt.toISOString(),
      last_used_at: s.lastUsedAt.toISOString(),
      expires_at: new Date(expires).toISOString(),
      user_agent: s.userAgent,
      ip: s.ip,
      current: s.id === currentSid,
    };
  }

  /** One audit line (see audit.ts): stable event name, user_id, session_id, ip, user_agent. */
  audit(event: AuditEvent, fields: AuditFields, ctx: RequestContext): void {
    this.deps.logger.info(auditRecord(event, fields, ctx), event);
  }
}
