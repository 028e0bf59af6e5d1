import type { Transporter } from 'nodemailer';
import type { Logger } from '../logger.ts';
import { passwordOf, withoutPassword } from '../startup-error.ts';
import { MailSendError, nodemailerOptions, type MailMessage, type Mailer } from './mailer.ts';

// Every step of a send is bounded, so one attempt always ends well within the outbox's
// claim lease (OUTBOX_LEASE_MS): a replica never sends a mail another one still holds.
const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };

/** SMTP through nodemailer: one connection per message (mail is rare; nothing to keep warm). */
export class SmtpMailer implements Mailer {
  readonly transport = 'smtp' as const;
  /** nodemailer is loaded at the first message, not at start (docs/performance.md, "Footprint"). */
  private transporter: Promise<Transporter> | undefined;
  /** `SMTP_URL (smtp://user@host:587)`: every failure says which setting it is about. */
  private readonly source: string;
  private readonly password: string | undefined;

  constructor(
    private readonly url: string,
    private readonly from: string,
    private readonly logger: Logger,
  ) {
    this.source = `SMTP_URL (${withoutPassword(url)})`;
    this.password = passwordOf(url);
  }

  async send(message: MailMessage): Promise<void> {
    try {
      this.transporter ??= import('nodemailer').then((m) => m.default.createTransport({ url: this.url, ...TIMEOUTS }));
      await (await this.transporter).sendMail(nodemailerOptions(message, this.from));
    } catch (err) {
      throw toSendError(err, this.source, this.password);
    }
    this.logger.info({ event: 'mail.sent', kind: message.kind, to: message.to, message_id: message.messageId }, 'mail sent');
  }

  async close(): Promise<void> {
    (await this.transporter)?.close();
  }
}

/** 5xx replies are permanent refusals; connection failures, timeouts and 4xx are worth retrying. */
function toSendError(err: unknown, source: string, password: string | undefined): MailSendError {
  const e = err as { responseCode?: unknown; code?: unknown; message?: unknown };
  const status = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const code = typeof e.code === 'string' ? e.code : 'EUNKNOWN';
  // nodemailer's message may quote the server's reply, never our message body.
  let text = typeof e.message === 'string' ? e.message.slice(0, 300) : String(err);
  if (password) text = text.split(password).join('[redacted]');
  return new MailSendError(`${source}: ${code}${status ? ` ${status}` : ''}: ${text}`, status !== undefined && status >= 500 && status < 600);
}
