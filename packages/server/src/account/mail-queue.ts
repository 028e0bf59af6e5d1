import type { RequestContext } from '../request-context.ts';
import type { Clock } from '../clock.ts';
import type { RecoveryConfig } from '../config.ts';
import type { Queryable } from '../db/db.ts';
import { outboxStore } from '../mail/outbox-store.ts';
import type { MailKind } from '../mail/templates.ts';
import { mailLifetime } from './account-mail.ts';

/** Queues account mails in the outbox, and wakes this replica's drainer once they are committed. */
export class MailQueue {
  constructor(
    private readonly clock: Clock,
    private readonly recovery: Pick<RecoveryConfig, 'passwordResetTtl' | 'emailVerificationTtl'>,
    /** The drainer's nudge; a no-op where no drainer runs (CLI): a replica sends the mail. */
    readonly nudge: () => void = () => {},
  ) {}

  /** Call in the transaction of the change the mail is about; nudge() after it commits. */
  async enqueue(
    db: Queryable,
    mail: { kind: MailKind; userId: string | null; recipient: string; data?: Record<string, string> },
    ctx: RequestContext,
  ): Promise<void> {
    const now = this.clock.now();
    await outboxStore.enqueue(db, {
      ...mail,
      context: { ip: ctx.ip, user_agent: ctx.userAgent, ...(ctx.requestId ? { request_id: ctx.requestId } : {}) },
      now: new Date(now),
      // Worth sending while its link would still be worth having.
      expiresAt: new Date(now + mailLifetime(mail.kind, this.recovery) * 1000),
    });
  }
}
