// What each queued account mail says, decided when it is its turn to be sent. The secret
// of a link is minted here, in a transaction under the user's row lock that also voids the
// older ones: so the outbox never holds a secret, only the newest link works, and a mail
// queued before a password change, an email change or a newer request is dropped instead
// of sent.
import crypto from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { MailConfig, RecoveryConfig } from '../config.ts';
import type { Db, Queryable } from '../db/db.ts';
import type { ComposedMail, ComposeMail } from '../mail/outbox-drainer.ts';
import { outboxStore, type OutboxMail } from '../mail/outbox-store.ts';
import { humanDuration, renderMail, type MailKind, type MailTemplates } from '../mail/templates.ts';
import { userStore, type User } from '../users/user-store.ts';
import { mailTokenStore, type MailTokenPurpose } from './mail-token-store.ts';
import { generateMailToken, hashMailToken } from './mail-tokens.ts';

/** Where each link lands in the app (APP_URL + path); the secret follows in the fragment. */
export const LINK_PATHS: Record<MailTokenPurpose, string> = {
  password_reset: '/reset-password',
  email_verification: '/verify-email',
  email_change: '/confirm-email-change',
};

export interface AccountMailDeps {
  db: Db;
  clock: Clock;
  templates: MailTemplates;
  mail: Pick<MailConfig, 'appUrl' | 'from'>;
  recovery: Pick<RecoveryConfig, 'passwordResetTtl' | 'emailVerificationTtl'>;
  /** The email.verification_sent audit line, once a verification mail was accepted. */
  onVerificationSent(mail: OutboxMail): void;
}

/** How long a mail of this kind is worth trying to send, and its link works once sent (seconds). */
export function mailLifetime(kind: MailKind, recovery: Pick<RecoveryConfig, 'passwordResetTtl' | 'emailVerificationTtl'>): number {
  return kind === 'password_reset' ? recovery.passwordResetTtl : recovery.emailVerificationTtl;
}

export function accountMailComposer(deps: AccountMailDeps): ComposeMail {
  const fromDomain = /@([^\s<>@]+)>?\s*$/.exec(deps.mail.from)?.[1] ?? 'localhost';

  const message = (mail: OutboxMail, values: Record<string, string>): ComposedMail['message'] => ({
    messageId: messageIdFor(mail, fromDomain),
    kind: mail.kind,
    to: mail.recipient,
    ...renderMail(deps.templates[mail.kind], { app_url: deps.mail.appUrl, email: mail.recipient, ...values }),
  });

  /** Mints the link's secret if the mail is still worth sending; undefined otherwise. */
  const withLink = (mail: OutboxMail, purpose: MailTokenPurpose, stillWanted: (user: User) => boolean) =>
    deps.db.transaction(async (tx): Promise<ComposedMail | undefined> => {
      const user = await lockedRecipient(tx, mail);
      if (!user || !stillWanted(user) || (await outboxStore.newerExists(tx, mail))) return undefined;
      // Asked for before a credential change (password, disable, second factor): that change voided it.
      if (user.credentialsChangedAt && mail.createdAt < user.credentialsChangedAt) return undefined;
      const now = deps.clock.now();
      const ttl = mailLifetime(mail.kind, deps.recovery);
      const secret = generateMailToken();
      await mailTokenStore.insertNewest(tx, {
        tokenHash: hashMailToken(secret),
        userId: user.id,
        purpose,
        email: mail.recipient,
        now: new Date(now),
        expiresAt: new Date(now + ttl * 1000),
      });
      const link = `${deps.mail.appUrl}${LINK_PATHS[purpose]}#token=${secret}`;
      return {
        message: message(mail, { link, expires_in: humanDuration(ttl), old_email: user.email }),
        ...(purpose === 'email_verification' ? { afterSend: () => deps.onVerificationSent(mail) } : {}),
      };
    });

  return async (mail) => {
    switch (mail.kind) {
      case 'password_reset':
        // Not if the address changed or the password was changed (or reset) since the request.
        return withLink(mail, 'password_reset', (u) => u.email === mail.recipient && mail.createdAt >= u.passwordChangedAt);
      case 'email_verification':
        return withLink(mail, 'email_verification', (u) => u.email === mail.recipient && u.emailVerifiedAt === null);
      case 'email_change':
        return withLink(mail, 'email_change', (u) => u.email !== mail.recipient);
      case 'email_change_notice': {
        const user = mail.userId === null ? undefined : await userStore.findById(deps.db, mail.userId);
        return user ? { message: message(mail, { new_email: mail.data.new_email ?? '' }) } : undefined;
      }
      case 'email_change_taken': {
        // To the owner of an address another account asked for, while it is still theirs: a notice, never a link.
        const owner = mail.userId === null ? undefined : await userStore.findById(deps.db, mail.userId);
        return owner && owner.email === mail.recipient ? { message: message(mail, {}) } : undefined;
      }
      case 'mfa_locked': {
        const user = mail.userId === null ? undefined : await userStore.findById(deps.db, mail.userId);
        return user ? { message: message(mail, { locked_for: mail.data.locked_for ?? '' }) } : undefined;
      }
      case 'mfa_recovery_code_used': {
        // Sent while the account exists, to its address when the code was used.
        const user = mail.userId === null ? undefined : await userStore.findById(deps.db, mail.userId);
        return user ? { message: message(mail, { recovery_codes_left: mail.data.recovery_codes_left ?? '' }) } : undefined;
      }
    }
  };
}

/** The user a mail is about, locked (a password or email change waits for us), if it still exists and is enabled. */
async function lockedRecipient(tx: Queryable, mail: OutboxMail): Promise<User | undefined> {
  // No user: a reset asked for an address without an account. Nothing is sent, and the
  // request answered exactly as for a real one.
  if (mail.userId === null) return undefined;
  const user = await userStore.lockById(tx, mail.userId);
  return user && !user.disabledAt ? user : undefined;
}

/** The same for every attempt at one row, unique across rows and installations; no secret in it. */
function messageIdFor(mail: OutboxMail, domain: string): string {
  const stamp = mail.createdAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const tag = crypto.createHash('sha256').update(`${mail.seq}\0${mail.createdAt.getTime()}\0${mail.recipient}`).digest('hex').slice(0, 12);
  return `<${stamp}.${mail.seq}.${tag}@${domain}>`;
}
