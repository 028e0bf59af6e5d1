// Wiring of account recovery: the mailer and its outbox drainer, the mail queue, the
// throttle, and the two services. buildApp and the CLI call this; nothing else needs to
// know how the pieces fit.
import type { RedisClient } from '@tessera/verifier/internal';
import type { Registry } from 'prom-client';
import { auditRecord, type AuditEvent, type AuditFields } from '../audit.ts';
import type { AuthService, EmailVerificationHooks } from '../auth-service.ts';
import type { RequestContext } from '../request-context.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Db, Queryable } from '../db/db.ts';
import type { Logger } from '../logger.ts';
import { mailMetrics } from '../mail/mail-metrics.ts';
import { createMailer } from '../mail/create-mailer.ts';
import type { Mailer } from '../mail/mailer.ts';
import { OutboxDrainer, type DrainerOptions } from '../mail/outbox-drainer.ts';
import type { OutboxMail } from '../mail/outbox-store.ts';
import { humanDuration, loadTemplates } from '../mail/templates.ts';
import type { SessionService } from '../sessions/session-service.ts';
import type { MfaService } from '../mfa/mfa-service.ts';
import type { UserService } from '../users/user-service.ts';
import type { User } from '../users/user-store.ts';
import { accountMailComposer } from './account-mail.ts';
import { AccountService } from './account-service.ts';
import { EmailService, emailVerificationHooks } from './email-service.ts';
import { MailQueue } from './mail-queue.ts';
import { createRecoveryThrottle } from './recovery-throttle.ts';

export interface RecoveryDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** The app's metrics registry (tessera_mails_total); the CLI has none. */
  registry?: Registry;
  /** Shared throttle counters (REDIS_URL). */
  redis?: RedisClient;
  /** Replaces the transport the config asks for. */
  mailer?: Mailer;
  /** Outbox timings (poll, lease, back-off); the defaults suit production. */
  drainer?: Partial<DrainerOptions>;
}

export interface Recovery {
  /** Sends the outbox; started by the entry point (every replica), stopped by close(). */
  drainer: OutboxDrainer;
  /** For AuthService: queue a verification mail on registration, REQUIRE_VERIFIED_EMAIL. */
  verificationHooks: EmailVerificationHooks;
  /** The second factor's notice: a recovery code was used (queued in the transaction that used it). */
  recoveryCodeNotice: RecoveryCodeNotice;
  /** The second factor's notice: wrong codes locked the authenticator codes of the account. */
  mfaLockedNotice: MfaLockedNotice;
  /** The services, once AuthService exists. */
  services(deps: { users: UserService; sessions: SessionService; auth: AuthService; mfa?: Pick<MfaService, 'challengeFor'> }): {
    account: AccountService;
    email: EmailService;
  };
  close(): Promise<void>;
}

export interface RecoveryCodeNotice {
  /** In the transaction that marks the code used, so the notice is never lost nor sent for a code that was not used. */
  enqueue(tx: Queryable, user: User, recoveryCodesLeft: number, ctx: RequestContext): Promise<void>;
  /** After that transaction committed. */
  nudge(): void;
}

export interface MfaLockedNotice {
  /** Queues the mail (its own transaction) and wakes this replica's drainer. */
  send(user: User, lockedSeconds: number, ctx: RequestContext): Promise<void>;
}

export function createRecovery(config: Config, deps: RecoveryDeps): Recovery {
  const { db, clock, logger } = deps;
  // Checked now: a broken template stops the start, it does not surface at the first mail.
  const templates = loadTemplates(config.mail.templatesDir);
  const mailer = deps.mailer ?? createMailer(config, logger);
  const throttle = createRecoveryThrottle(config, { redis: deps.redis, clock, logger });
  // Audit lines about a mail carry the context of the request that queued it, wherever it is sent from.
  const audit = (level: 'info' | 'warn', event: AuditEvent, fields: AuditFields, mail: OutboxMail) =>
    logger[level](auditRecord(event, fields, { ip: mail.context.ip, userAgent: mail.context.user_agent, requestId: mail.context.request_id }), event);
  const drainer = new OutboxDrainer(
    {
      db,
      mailer,
      clock,
      logger,
      ...(deps.registry ? { metrics: mailMetrics(deps.registry) } : {}),
      compose: accountMailComposer({
        db,
        clock,
        templates,
        mail: config.mail,
        recovery: config.recovery,
        onVerificationSent: (mail) => audit('info', 'email.verification_sent', { user_id: mail.userId }, mail),
      }),
      onFailed: (mail, reason) => audit('warn', 'mail.failed', { user_id: mail.userId, kind: mail.kind, attempts: mail.attempts, reason }, mail),
    },
    deps.drainer,
  );
  const mailQueue = new MailQueue(clock, config.recovery, () => drainer.nudge());
  const requireVerifiedEmail = config.recovery.requireVerifiedEmail;
  return {
    drainer,
    recoveryCodeNotice: {
      enqueue: (tx, user, left, ctx) =>
        mailQueue.enqueue(tx, { kind: 'mfa_recovery_code_used', userId: user.id, recipient: user.email, data: { recovery_codes_left: String(left) } }, ctx),
      nudge: () => mailQueue.nudge(),
    },
    mfaLockedNotice: {
      async send(user, lockedSeconds, ctx) {
        await mailQueue.enqueue(db, { kind: 'mfa_locked', userId: user.id, recipient: user.email, data: { locked_for: humanDuration(lockedSeconds) } }, ctx);
        mailQueue.nudge();
      },
    },
    verificationHooks: emailVerificationHooks({ db, mailQueue, requireVerifiedEmail, ...(throttle ? { throttle } : {}) }),
    services: ({ users, sessions, auth, mfa }) => ({
      account: new AccountService({
        db,
        users,
        sessions,
        auth,
        ...(mfa ? { mfa } : {}),
        clock,
        mailQueue,
        clientId: config.clientId,
        accessTokenTtl: config.accessTokenTtl,
        ...(throttle ? { throttle } : {}),
      }),
      email: new EmailService({ db, users, auth, clock, mailQueue, requireVerifiedEmail, ...(throttle ? { throttle } : {}) }),
    }),
    async close() {
      await drainer.stop();
      await mailer.close();
      await throttle?.close();
    },
  };
}
