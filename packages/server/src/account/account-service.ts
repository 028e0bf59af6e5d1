// Account recovery and the account's life cycle: password reset by email, operator
// set-password, account deletion. Every path that changes a password or removes an account
// ends the user's sessions and access tokens on every replica through AuthService's own
// path (the SQL revocation and its durable outbox rows in the same transaction, then the
// publication: AuthService.userRevocations), like /auth/password.
// The CLI and the admin API call these methods as they are.
import type { AuthService, TokenPair } from '../auth-service.ts';
import type { RequestContext } from '../request-context.ts';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/db.ts';
import { AuthError } from '../errors.ts';
import type { MfaRequired, MfaService } from '../mfa/mfa-service.ts';
import type { SessionService } from '../sessions/session-service.ts';
import type { Session } from '../sessions/session-store.ts';
import { sessionStore } from '../sessions/session-store.ts';
import { outboxStore } from '../mail/outbox-store.ts';
import { storePasswordAndEndSessions } from '../users/password-change.ts';
import { normalizeEmail, type UserService } from '../users/user-service.ts';
import { userStore, type User } from '../users/user-store.ts';
import type { AccessTokenClaims } from '@tessera/verifier';
import { deletedUserStore } from './account-store.ts';
import type { MailQueue } from './mail-queue.ts';
import { mailTokenStore } from './mail-token-store.ts';
import { lockUsableLink } from './mail-links.ts';
import { hashMailToken, looksLikeMailToken } from './mail-tokens.ts';
import type { RecoveryThrottle } from './recovery-throttle.ts';

export interface AccountServiceDeps {
  db: Db;
  users: UserService;
  sessions: SessionService;
  auth: AuthService;
  clock: Clock;
  mailQueue: MailQueue;
  /** CLIENT_ID, for the session a reset opens. */
  clientId: string;
  /** ACCESS_TOKEN_TTL: how long a deleted account's tombstone must outlive its last token. */
  accessTokenTtl: number;
  /** Absent when RATE_LIMIT_ENABLED=false (and in the CLI). */
  throttle?: RecoveryThrottle;
  /** Second factor: after a reset, an account with one gets a challenge instead of tokens. */
  mfa?: Pick<MfaService, 'challengeFor'>;
}

/** Tombstones outlive the last access token of a deleted account by this much (clock skew). */
const SKEW_MS = 60_000;

export class AccountService {
  constructor(private readonly deps: AccountServiceDeps) {}

  /**
   * POST /auth/password/forgot. The same work, the same answer and the same time for every
   * address: the throttle is keyed by the address, one indexed read, one outbox row (with
   * no user when there is no account: the drainer then sends nothing). The secret is minted
   * only when the mail is sent, away from this request.
   */
  async requestPasswordReset(email: string, ctx: RequestContext): Promise<void> {
    const address = normalizeEmail(email);
    await this.deps.throttle?.beforeResetMail(address);
    const user = await userStore.findByEmail(this.deps.db, address);
    await this.deps.mailQueue.enqueue(this.deps.db, { kind: 'password_reset', userId: user?.id ?? null, recipient: address }, ctx);
    this.deps.auth.audit('password.reset_requested', { user_id: user?.id ?? null }, ctx);
    this.deps.mailQueue.nudge();
  }

  /**
   * POST /auth/password/reset. Uses the link once (its row is locked, so two requests with
   * the same link on two replicas cannot both succeed), stores the new password, revokes
   * every session, voids the other reset links; then denies every access token of the user
   * on every replica and opens a fresh session for the caller.
   */
  async resetPassword(
    input: { token: string; newPassword: string; remember: boolean; tokenDelivery?: 'body' | 'cookie' },
    ctx: RequestContext,
  ): Promise<TokenPair | MfaRequired> {
    if (!looksLikeMailToken(input.token)) throw new AuthError('mail_token_invalid', 'The link is not valid; request a new one');
    const newHash = await this.deps.users.hashPassword(input.newPassword);
    const now = new Date(this.deps.clock.now());
    const revocations = this.deps.auth.userRevocations();
    const { user, revoked } = await this.deps.db.transaction(async (tx) => {
      const { token, owner } = await lockUsableLink(tx, hashMailToken(input.token), 'password_reset', now);
      if (owner.email !== token.email) throw new AuthError('mail_token_invalid', 'The link is not valid; request a new one');
      await mailTokenStore.markUsed(tx, token.tokenHash, now);
      const ended = await storePasswordAndEndSessions(tx, { userId: owner.id, newHash, now, reason: 'password_reset' });
      await revocations.recordUser(tx, owner.id, ended);
      // The link reached the address: that proves it as well as a verification link would.
      await userStore.setEmailVerified(tx, owner.id, token.email, now);
      return { user: owner, revoked: ended };
    });
    await revocations.publish();
    this.deps.auth.audit('password.reset', { user_id: user.id, sessions_revoked: revoked.length }, ctx);
    // The mailed link proves the address, not the second factor: the new session waits for it.
    const challenge = await this.deps.mfa?.challengeFor({
      userId: user.id,
      passwordHash: newHash,
      remember: input.remember,
      tokenDelivery: input.tokenDelivery ?? 'body',
    });
    if (challenge) return challenge;
    const opened = await this.deps.sessions.create({
      userId: user.id,
      verifiedPasswordHash: newHash,
      clientId: this.deps.clientId,
      remember: input.remember,
      ...ctx,
    });
    if (!opened) throw new AuthError('invalid_credentials', 'The password was changed again meanwhile; log in');
    return this.deps.auth.pairFor(opened);
  }

  /**
   * Sets a user's password without the old one (operators: `tessera users set-password`,
   * the admin API). Ends every session and access token of the user everywhere.
   * Returns how many sessions it ended.
   */
  async setPassword(userId: string, newPassword: string, ctx: RequestContext): Promise<number> {
    const newHash = await this.deps.users.hashPassword(newPassword);
    const now = new Date(this.deps.clock.now());
    const revocations = this.deps.auth.userRevocations();
    const revoked = await this.deps.db.transaction(async (tx) => {
      if (!(await userStore.lockById(tx, userId))) throw new AuthError('not_found', 'No such user');
      const ended = await storePasswordAndEndSessions(tx, { userId, newHash, now, reason: 'password_set_by_operator' });
      await revocations.recordUser(tx, userId, ended);
      return ended;
    });
    await revocations.publish();
    this.deps.auth.audit('password.changed', { user_id: userId, by: 'operator', sessions_revoked: revoked.length }, ctx);
    return revoked.length;
  }

  /** DELETE /auth/account: the password is asked again (throttled like a password change). */
  async deleteOwnAccount(claims: AccessTokenClaims, password: string | undefined, ctx: RequestContext): Promise<void> {
    const user = await this.signedInUser(claims);
    await this.deps.auth.confirmIdentity(user, password, 'password', claims);
    await this.deleteAccount(user.id, ctx, { by: 'user', sessionId: claims.sid });
  }

  /**
   * Deletes a user with everything that is theirs: sessions and refresh tokens, mail links,
   * queued and sent mail records (cascade and outbox), all in one transaction under the
   * user's row lock (a login racing with it either finishes first and its session is
   * revoked here, or finds no user). Then every access token of the user is denied on every
   * replica. The address is free to register again at once.
   * Returns how many sessions it ended; throws not_found for an unknown user.
   */
  async deleteAccount(userId: string, ctx: RequestContext, by: { by: 'user' | 'operator' | 'admin'; sessionId?: string | null } = { by: 'operator' }): Promise<number> {
    const now = this.deps.clock.now();
    const horizon = new Date(now - this.deps.accessTokenTtl * 1000 - SKEW_MS);
    const revocations = this.deps.auth.userRevocations();
    const revoked: Session[] | undefined = await this.deps.db.transaction(async (tx) => {
      if (!(await userStore.lockById(tx, userId))) return undefined;
      const live = await sessionStore.revokeAllForUser(tx, userId, new Date(now), 'account_deleted');
      await outboxStore.deleteForUser(tx, userId);
      // So that a restarted replica still denies this user's tokens (seed-from-sql.ts).
      await deletedUserStore.record(tx, userId, new Date(now), horizon);
      await userStore.delete(tx, userId);
      await revocations.recordUser(tx, userId, live);
      return live;
    });
    if (!revoked) throw new AuthError('not_found', 'No such user');
    await revocations.publish();
    this.deps.auth.audit('account.deleted', { user_id: userId, session_id: by.sessionId ?? null, by: by.by, sessions_revoked: revoked.length }, ctx);
    return revoked.length;
  }

  private async signedInUser(claims: AccessTokenClaims): Promise<User> {
    const user = await this.deps.users.findById(claims.sub);
    if (!user || user.disabledAt) throw new AuthError('invalid_token', 'The access token is invalid: unknown user');
    return user;
  }
}
