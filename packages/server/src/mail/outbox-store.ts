// SQL for the mail outbox. A row is an intent to mail (kind, recipient, user), never a
// secret: secrets are minted when the mail is composed for sending (see account-mail.ts).
import type { Queryable } from '../db/db.ts';
import type { MailKind } from './templates.ts';
import type { Row } from '../db/rows.ts';

/** Who caused a mail: copied into the audit lines the draining replica writes about it. */
export interface MailContext {
  ip: string | null;
  user_agent: string | null;
  request_id?: string;
}

export interface OutboxMail {
  seq: number;
  kind: MailKind;
  userId: string | null;
  recipient: string;
  data: Record<string, string>;
  context: MailContext;
  createdAt: Date;
  expiresAt: Date;
  /** Attempts so far, this one included once claimed. */
  attempts: number;
  claim: string | null;
}

export interface NewMail {
  kind: MailKind;
  userId: string | null;
  recipient: string;
  data?: Record<string, string>;
  context: MailContext;
  now: Date;
  expiresAt: Date;
}

export type MailOutcome = 'sent' | 'dropped' | 'failed';

const toMail = (r: Row): OutboxMail => ({
  seq: Number(r.seq),
  kind: r.kind as MailKind,
  userId: (r.user_id as string | null) ?? null,
  recipient: r.recipient as string,
  data: (r.data as Record<string, string>) ?? {},
  context: (r.context as MailContext) ?? { ip: null, user_agent: null },
  createdAt: new Date(r.created_at as string | Date),
  expiresAt: new Date(r.expires_at as string | Date),
  attempts: r.attempts as number,
  claim: (r.claim as string | null) ?? null,
});

const COLUMNS = 'seq, kind, user_id, recipient, data, context, created_at, expires_at, attempts, claim';

export const outboxStore = {
  /** Queues a mail; due at once. Call it in the transaction of the change the mail is about. */
  async enqueue(db: Queryable, mail: NewMail): Promise<number> {
    const rows = await db.query<{ seq: number }>(
      `INSERT INTO mail_outbox (kind, user_id, recipient, data, context, created_at, expires_at, next_attempt_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $6) RETURNING seq`,
      [mail.kind, mail.userId, mail.recipient, mail.data ?? {}, mail.context, mail.now, mail.expiresAt],
    );
    return Number(rows[0]!.seq);
  },

  /**
   * Takes the oldest due mail for this replica, in one statement: SKIP LOCKED passes over
   * a row another replica is claiming this instant, and the claim pushes next_attempt_at to
   * the end of a lease, so no other replica takes it while it is being sent. A replica that
   * dies mid-send leaves the row to be taken again when the lease ends.
   */
  async claimNext(db: Queryable, c: { now: Date; leaseUntil: Date; claim: string }): Promise<OutboxMail | undefined> {
    const rows = await db.query(
      `UPDATE mail_outbox o SET attempts = o.attempts + 1, next_attempt_at = $2, claim = $3
       FROM (SELECT seq FROM mail_outbox WHERE done_at IS NULL AND next_attempt_at <= $1
             ORDER BY next_attempt_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED) due
       WHERE o.seq = due.seq
       RETURNING ${COLUMNS.split(', ').map((c) => `o.${c}`).join(', ')}`,
      [c.now, c.leaseUntil, c.claim],
    );
    return rows[0] && toMail(rows[0]);
  },

  /** Records the end of a mail; only the claim that holds it may. False if the claim was lost. */
  async finish(db: Queryable, mail: OutboxMail, now: Date, outcome: MailOutcome, error: string | null = null): Promise<boolean> {
    const rows = await db.query(
      `UPDATE mail_outbox SET done_at = $3, outcome = $4, last_error = $5, claim = NULL
       WHERE seq = $1 AND claim = $2 AND done_at IS NULL RETURNING seq`,
      [mail.seq, mail.claim, now, outcome, error],
    );
    return rows.length === 1;
  },

  /** A failed attempt: due again at `next`. */
  async retryAt(db: Queryable, mail: OutboxMail, next: Date, error: string): Promise<boolean> {
    const rows = await db.query(
      'UPDATE mail_outbox SET next_attempt_at = $3, last_error = $4, claim = NULL WHERE seq = $1 AND claim = $2 AND done_at IS NULL RETURNING seq',
      [mail.seq, mail.claim, next, error],
    );
    return rows.length === 1;
  },

  /** True when the same user asked for the same kind of mail again since: only the newest is worth sending. */
  async newerExists(db: Queryable, mail: OutboxMail): Promise<boolean> {
    if (mail.userId === null) return false;
    const rows = await db.query('SELECT 1 FROM mail_outbox WHERE user_id = $1 AND kind = $2 AND seq > $3 LIMIT 1', [mail.userId, mail.kind, mail.seq]);
    return rows.length > 0;
  },

  /** Erases every mail of a user, sent or not (account deletion). */
  async deleteForUser(db: Queryable, userId: string): Promise<number> {
    const rows = await db.query('DELETE FROM mail_outbox WHERE user_id = $1 RETURNING seq', [userId]);
    return rows.length;
  },

  /** Finished mails are kept a day (to recognise an older request), then deleted: they hold addresses. */
  async purgeDone(db: Queryable, before: Date): Promise<number> {
    const rows = await db.query('DELETE FROM mail_outbox WHERE done_at IS NOT NULL AND done_at < $1 RETURNING seq', [before]);
    return rows.length;
  },
};
