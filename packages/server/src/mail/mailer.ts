// Where mail goes: an SMTP server (nodemailer) or, with no SMTP_URL, .eml files on disk.
// Both take a fully rendered message; neither ever logs its body (it carries secrets).
// This module is what the transports and their users share, and imports neither transport;
// create-mailer.ts picks one from the configuration.

export interface MailMessage {
  /** Stable per outbox row: the Message-ID (and file name) of every attempt to send it. */
  messageId: string;
  /** For log lines and file names only. */
  kind: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  readonly transport: 'smtp' | 'file';
  /** Resolves once the message is accepted (SMTP 250, or the file renamed into place). */
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
}

/**
 * A failed send. `permanent`: retrying cannot help (SMTP 5xx: the recipient or the message
 * was refused), so the outbox gives up at once instead of retrying until the mail expires.
 */
export class MailSendError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'MailSendError';
  }
}

/** The nodemailer options of a message: what both transports (SMTP, .eml files) send. */
export function nodemailerOptions(message: MailMessage, from: string) {
  const { to, subject, text, html, messageId } = message;
  return { from, to, subject, text, html, messageId };
}
