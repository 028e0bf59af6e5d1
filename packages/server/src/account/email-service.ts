// The address of an account: verification after registration, and changing it. A change
// mails a link to the new address and a notice to the old one; nothing changes until the
// link is used, so the old address can still recover the account until then.
import type { AuthService, EmailVerificationHooks } from '../auth-service.ts';
import type { RequestContext } from '../request-context.ts';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/db.ts';
import { AuthError } from '../errors.ts';
import { toPublicUser, type PublicUser, type UserService } from '../users/user-service.ts';
import { EmailTakenError, userStore, type User } from '../users/user-store.ts';
import type { AccessTokenClaims } from '@tessera/verifier';
import type { MailQueue } from './mail-queue.ts';
import { mailTokenStore } from './mail-token-store.ts';
import { lockUsableLink } from './mail-links.ts';
import { hashMailToken, looksLikeMailToken } from './mail-tokens.ts';
import type { RecoveryThrottle } from './recovery-throttle.ts';

export interface EmailServiceDeps {
  db: Db;
  users: UserService;
  auth: AuthService;
  clock: Clock;
  mailQueue: MailQueue;
  /** REQUIRE_VERIFIED_EMAIL */
  requireVerifiedEmail: boolean;
  throttle?: RecoveryThrottle;
}

/**
 * What AuthService calls on registration and login. Needs no AuthService itself, so it can
 * be built before it.
 */
export function emailVerificationHooks(deps: Pick<EmailServiceDeps, 'db' | 'mailQueue' | 'requireVerifiedEmail' | 'throttle'>): EmailVerificationHooks {
  const { db, mailQueue, throttle } = deps;
  return {
    required: deps.requireVerifiedEmail,
    onRegister: (tx, user, ctx) => mailQueue.enqueue(tx, { kind: 'email_verification', userId: user.id, recipient: user.email }, ctx),
    afterRegister: () => mailQueue.nudge(),
    async onUnverifiedLogin(user, ctx) {
      // The same throttle as a resend; when it refuses, the login still answers 403, without a mail.
      if (throttle && !(await throttle.beforeAccountMail(user.id).then(() => true, () => false))) return;
      await mailQueue.enqueue(db, { kind: 'email_verification', userId: user.id, recipient: user.email }, ctx);
      mailQueue.nudge();
    },
  };
}

export class EmailService {
  constructor(private readonly deps: EmailServiceDeps) {}

  /** POST /auth/email/verify: marks the address the link was mailed to verified. */
  async verify(token: string, ctx: RequestContext): Promise<PublicUser> {
    if (!looksLikeMailToken(token)) throw new AuthError('mail_token_invalid', 'The link is not valid; request a new one');
    const now = new Date(this.deps.clock.now());
    const user = await this.deps.db.transaction(async (tx) => {
      const { token: found } = await lockUsableLink(tx, hashMailToken(token), 'email_verification', now);
      await mailTokenStore.markUsed(tx, found.tokenHash, now);
      // Only while the account still has that address (an email change voids the link too).
      const verified = await userStore.setEmailVerified(tx, found.userId, found.email, now);
      if (!verified) throw new AuthError('mail_token_voided', 'The email address was changed since this link was sent');
      return verified;
    });
    this.deps.auth.audit('email.verified', { user_id: user.id }, ctx);
    return toPublicUser(user);
  }

  /** POST /auth/email/verify/resend: a new link (the older ones stop working when it is sent). */
  async resendVerification(claims: AccessTokenClaims, ctx: RequestContext): Promise<void> {
    const user = await this.signedInUser(claims);
    if (user.emailVerifiedAt) throw new AuthError('email_already_verified', 'The email address is already verified');
    await this.deps.throttle?.beforeAccountMail(user.id);
    await this.deps.mailQueue.enqueue(this.deps.db, { kind: 'email_verification', userId: user.id, recipient: user.email }, ctx);
    this.deps.mailQueue.nudge();
  }

  /**
   * POST /auth/email/change: the password again, then a link to the new address (or, when
   * another account has it, a notice to that account) and a notice to the old one.
   */
  async requestChange(claims: AccessTokenClaims, input: { newEmail: string; password: string | undefined }, ctx: RequestContext): Promise<void> {
    const user = await this.signedInUser(claims);
    await this.deps.auth.confirmIdentity(user, input.password, 'password', claims);
    if (input.newEmail === user.email) {
      throw new AuthError('validation_failed', 'new_email: is already the address of this account', {
        errors: [{ field: 'new_email', message: 'is already the address of this account' }],
      });
    }
    await this.deps.throttle?.beforeAccountMail(user.id);
    // The same answer (202) whether the address is free or taken, so this is no oracle of
    // registered addresses: a taken one gets a notice for its owner instead of a link. It
    // is checked again at confirmation (409 there), as someone may take a free one meanwhile.
    const owner = await userStore.findByEmail(this.deps.db, input.newEmail);
    await this.deps.db.transaction(async (tx) => {
      if (owner) await this.deps.mailQueue.enqueue(tx, { kind: 'email_change_taken', userId: owner.id, recipient: input.newEmail }, ctx);
      else await this.deps.mailQueue.enqueue(tx, { kind: 'email_change', userId: user.id, recipient: input.newEmail }, ctx);
      await this.deps.mailQueue.enqueue(tx, { kind: 'email_change_notice', userId: user.id, recipient: user.email, data: { new_email: input.newEmail } }, ctx);
    });
    this.deps.auth.audit('email.change_requested', { user_id: user.id, session_id: claims.sid, address_taken: owner !== undefined }, ctx);
    this.deps.mailQueue.nudge();
  }

  /**
   * POST /auth/email/change/confirm: switches the address to the one the link was mailed to
   * (verified by this very link) and voids the reset and verification links mailed to the
   * old one. 409 email_taken when another account took the address meanwhile.
   */
  async confirmChange(token: string, ctx: RequestContext): Promise<PublicUser> {
    if (!looksLikeMailToken(token)) throw new AuthError('mail_token_invalid', 'The link is not valid; request a new one');
    const now = new Date(this.deps.clock.now());
    const user = await this.deps.db
      .transaction(async (tx) => {
        // Refused once the password changed or the account was disabled since it was minted.
        const { token: found } = await lockUsableLink(tx, hashMailToken(token), 'email_change', now);
        await mailTokenStore.markUsed(tx, found.tokenHash, now);
        const changed = await userStore.changeEmail(tx, found.userId, found.email, now);
        await mailTokenStore.voidOutstanding(tx, found.userId, 'password_reset', now, 'email_changed');
        await mailTokenStore.voidOutstanding(tx, found.userId, 'email_verification', now, 'email_changed');
        return changed!;
      })
      .catch((err: unknown) => {
        if (err instanceof EmailTakenError) throw new AuthError('email_taken', 'Another account has taken this address since the change was requested');
        throw err;
      });
    this.deps.auth.audit('email.changed', { user_id: user.id }, ctx);
    return toPublicUser(user);
  }

  private async signedInUser(claims: AccessTokenClaims): Promise<User> {
    const user = await this.deps.users.findById(claims.sub);
    if (!user || user.disabledAt) throw new AuthError('invalid_token', 'The access token is invalid: unknown user');
    return user;
  }
}
