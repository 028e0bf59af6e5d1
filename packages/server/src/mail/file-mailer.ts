import fs from 'node:fs/promises';
import path from 'node:path';
import type { Transporter } from 'nodemailer';
import type { Logger } from '../logger.ts';
import { MailSendError, nodemailerOptions, type MailMessage, type Mailer } from './mailer.ts';

/**
 * The embedded default: every message is an RFC 5322 file (`.eml`, CRLF line ends, MIME
 * multipart/alternative) that any mail client opens. Written under a temporary name and
 * renamed, so a reader never sees half a message; readable by the owner only, since the
 * links in it are secrets. The file name comes from the outbox row, so a retry replaces the
 * file instead of adding a second one.
 */
export class FileMailer implements Mailer {
  readonly transport = 'file' as const;
  /** nodemailer is loaded at the first message, not at start (docs/performance.md, "Footprint"). */
  private composer: Promise<Transporter> | undefined;

  constructor(
    private readonly dir: string,
    private readonly from: string,
    private readonly logger: Logger,
  ) {}

  async send(message: MailMessage): Promise<void> {
    const file = path.join(this.dir, `${fileStem(message)}.eml`);
    try {
      this.composer ??= import('nodemailer').then((m) => m.default.createTransport({ streamTransport: true, buffer: true, newline: 'windows' }));
      const composed = await (await this.composer).sendMail(nodemailerOptions(message, this.from));
      await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
      const temporary = `${file}.${process.pid}.tmp`;
      await fs.writeFile(temporary, composed.message as Buffer, { mode: 0o600 });
      await fs.rename(temporary, file);
    } catch (err) {
      // A full or read-only disk may recover: retried like an SMTP outage.
      throw new MailSendError(`cannot write ${file}: ${(err as Error).message}`, false);
    }
    this.logger.info({ event: 'mail.written', kind: message.kind, to: message.to, file }, 'mail written');
  }

  async close(): Promise<void> {}
}

/** `<message-id local part>-<kind>`: sortable by time, unique per outbox row, no secret. */
function fileStem(message: MailMessage): string {
  const local = message.messageId.replace(/^<|@.*$/g, '');
  return `${local}-${message.kind}`.replace(/[^A-Za-z0-9._-]/g, '_');
}
