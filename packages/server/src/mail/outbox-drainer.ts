// Sends what the outbox holds. Every replica runs one on a timer; they share the work
// through the claim in outboxStore.claimNext, so two replicas never send the same mail.
// Nothing here runs in a request: an SMTP outage never changes an HTTP answer.
import crypto from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/db.ts';
import type { Logger } from '../logger.ts';
import { noopMailMetrics, type MailMetrics } from './mail-metrics.ts';
import { MailSendError, type MailMessage, type Mailer } from './mailer.ts';
import { outboxStore, type OutboxMail } from './outbox-store.ts';

/** What a queued mail becomes when it is its turn: a message, or nothing left to send. */
export interface ComposedMail {
  message: MailMessage;
  /** After the mail was accepted (e.g. an audit line). */
  afterSend?: () => void;
}
export type ComposeMail = (mail: OutboxMail) => Promise<ComposedMail | undefined>;

export interface DrainerOptions {
  /** How often every replica looks for due mail. */
  pollMs: number;
  /** How long a claimed mail is this replica's: longer than any send can take (see smtp-mailer's timeouts). */
  leaseMs: number;
  /** First retry after this long, doubling per attempt up to maxRetryMs (with ±20 % jitter). */
  baseRetryMs: number;
  maxRetryMs: number;
  /** Finished rows are deleted after this long. */
  keepDoneMs: number;
}

export const DEFAULT_DRAINER_OPTIONS: DrainerOptions = {
  pollMs: 1_000,
  leaseMs: 120_000,
  baseRetryMs: 1_000,
  maxRetryMs: 300_000,
  keepDoneMs: 24 * 3600_000,
};

const PURGE_EVERY_MS = 600_000;

export interface DrainerDeps {
  db: Db;
  mailer: Mailer;
  compose: ComposeMail;
  clock: Clock;
  logger: Logger;
  metrics?: MailMetrics;
  /** Called when a mail is given up: the mail.failed audit line. */
  onFailed(mail: OutboxMail, reason: string): void;
}

export class OutboxDrainer {
  private readonly options: DrainerOptions;
  private readonly metrics: MailMetrics;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastPurge = 0;

  constructor(
    private readonly deps: DrainerDeps,
    options: Partial<DrainerOptions> = {},
  ) {
    this.options = { ...DEFAULT_DRAINER_OPTIONS, ...options };
    this.metrics = deps.metrics ?? noopMailMetrics;
  }

  /** Polls every pollMs until stop(). */
  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => this.nudge(), this.options.pollMs);
    this.timer.unref();
    this.nudge();
  }

  /** Drain soon (a mail was just queued on this replica). A no-op unless started. */
  nudge(): void {
    if (!this.timer || this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.nudge();
      }
    });
  }

  /** Stops the timer and waits for the mail being sent, if any (its send is time-bounded). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Sends every mail due now; returns how many rows it handled. For tests and tools. */
  async drainOnce(): Promise<number> {
    let handled = 0;
    while (!this.stopped && (await this.handleNext())) handled++;
    return handled;
  }

  private async loop(): Promise<void> {
    try {
      await this.drainOnce();
      await this.purge();
    } catch (err) {
      // The database is unreachable: try again at the next tick.
      this.deps.logger.warn({ event: 'mail.outbox_unavailable', error: (err as Error).message }, 'cannot read the mail outbox');
    }
  }

  /** One mail: claim, compose, send, record. False when nothing is due. */
  private async handleNext(): Promise<boolean> {
    const { db, clock } = this.deps;
    const now = clock.now();
    const claim = crypto.randomUUID();
    const mail = await outboxStore.claimNext(db, { now: new Date(now), leaseUntil: new Date(now + this.options.leaseMs), claim });
    if (!mail) return false;
    if (now >= mail.expiresAt.getTime()) {
      await this.fail(mail, 'expired before it could be sent');
      return true;
    }
    let composed: ComposedMail | undefined;
    try {
      composed = await this.deps.compose(mail);
    } catch (err) {
      await this.retry(mail, `compose: ${(err as Error).message}`);
      return true;
    }
    if (!composed) {
      await outboxStore.finish(db, mail, new Date(clock.now()), 'dropped');
      this.metrics.mail(mail.kind, 'dropped');
      return true;
    }
    try {
      await this.deps.mailer.send(composed.message);
    } catch (err) {
      const error = err instanceof MailSendError ? err : new MailSendError((err as Error).message, false);
      if (error.permanent) await this.fail(mail, error.message);
      else await this.retry(mail, error.message);
      return true;
    }
    // Should this write fail (database gone this instant), the lease ends and the mail is
    // sent again: at least once, never lost. Its Message-ID stays the same, so mailboxes
    // that deduplicate show it once.
    await outboxStore.finish(db, mail, new Date(clock.now()), 'sent');
    this.metrics.mail(mail.kind, 'sent');
    composed.afterSend?.();
    return true;
  }

  private async retry(mail: OutboxMail, error: string): Promise<void> {
    const now = this.deps.clock.now();
    const backoff = Math.min(this.options.maxRetryMs, this.options.baseRetryMs * 2 ** Math.min(mail.attempts - 1, 30));
    const next = now + Math.round(backoff * (0.8 + Math.random() * 0.4));
    if (next >= mail.expiresAt.getTime()) {
      await this.fail(mail, `still failing when its link expires: ${error}`);
      return;
    }
    await outboxStore.retryAt(this.deps.db, mail, new Date(next), error);
    this.metrics.mail(mail.kind, 'retried');
    this.deps.logger.warn(
      { event: 'mail.retry', kind: mail.kind, seq: mail.seq, attempts: mail.attempts, next_attempt_at: new Date(next).toISOString(), error },
      'mail not sent; will retry',
    );
  }

  private async fail(mail: OutboxMail, reason: string): Promise<void> {
    if (!(await outboxStore.finish(this.deps.db, mail, new Date(this.deps.clock.now()), 'failed', reason))) return;
    this.metrics.mail(mail.kind, 'failed');
    this.deps.onFailed(mail, reason);
  }

  private async purge(): Promise<void> {
    const now = this.deps.clock.now();
    if (now - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = now;
    await outboxStore.purgeDone(this.deps.db, new Date(now - this.options.keepDoneMs));
  }
}
