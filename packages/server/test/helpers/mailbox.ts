// The mail a test app wrote to MAIL_DIR (the embedded default transport, no SMTP_URL): for
// unit tests that follow links without a socket. Every call reads the folder again.
import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { linkOf, type ReceivedMail } from './smtp.ts';

export class FileMailbox {
  constructor(private readonly dir: string) {}

  /** Every message written so far, oldest first (file names sort by time and outbox row). */
  async all(): Promise<ReceivedMail[]> {
    if (!fs.existsSync(this.dir)) return [];
    // <stamp>.<outbox seq>.<tag>-<kind>.eml: by time, then by seq as a number.
    const key = (n: string) => { const [stamp = '', seq = '0'] = n.split('.'); return [stamp, Number(seq)] as const; };
    const names = fs
      .readdirSync(this.dir)
      .filter((n) => n.endsWith('.eml'))
      .sort((a, b) => { const [x, y] = [key(a), key(b)]; return x[0] === y[0] ? x[1] - y[1] : x[0] < y[0] ? -1 : 1; });
    const mails: ReceivedMail[] = [];
    for (const name of names) {
      const raw = fs.readFileSync(path.join(this.dir, name));
      const parsed = await simpleParser(raw);
      const text = parsed.text ?? '';
      mails.push({
        to: parsed.to && !Array.isArray(parsed.to) ? parsed.to.text : '',
        from: parsed.from?.text ?? '',
        subject: parsed.subject ?? '',
        text,
        html: typeof parsed.html === 'string' ? parsed.html : '',
        messageId: parsed.messageId ?? '',
        raw: raw.toString('utf8'),
        ...linkOf(text),
      });
    }
    return mails;
  }

  /** The messages to `to`, optionally only those with this subject. */
  async to(to: string, subject?: string): Promise<ReceivedMail[]> {
    return (await this.all()).filter((m) => m.to === to && (subject === undefined || m.subject === subject));
  }
}
