// A real SMTP server inside the test (the `smtp-server` package): Tessera sends to it over
// TCP exactly as to a production relay. Every message is parsed (mailparser) and kept, so
// tests count what arrived and follow the links. It can be stopped and started again on
// the same port to play an outage, and told to refuse recipients (a permanent 5xx).
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { freePort } from './process.ts';

export interface ReceivedMail {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  raw: string;
  /** The link of the mail, if it has one (…#token=mt_…). */
  link?: string;
  /** The secret in the link's fragment. */
  token?: string;
}

const LINK = /(https?:\/\/[^\s"<>]+#token=(mt_[A-Za-z0-9_-]{43}))/;

export function linkOf(text: string): { link?: string; token?: string } {
  const match = LINK.exec(text);
  return match ? { link: match[1], token: match[2] } : {};
}

export class TestSmtpServer {
  readonly received: ReceivedMail[] = [];
  /** Recipients answered `550` (permanent failure). */
  readonly refuse = new Set<string>();
  private server: SMTPServer | undefined;

  private constructor(readonly port: number) {}

  static async start(port?: number): Promise<TestSmtpServer> {
    const smtp = new TestSmtpServer(port ?? (await freePort()));
    await smtp.start();
    return smtp;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Listens (again) on the same port. */
  async start(): Promise<void> {
    if (this.server) return;
    const server = new SMTPServer({
      authOptional: true,
      // Stop at once when the test plays an outage (the default waits for clients).
      closeTimeout: 100,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onRcptTo: (address, _session, callback) => {
        if (this.refuse.has(address.address)) {
          const err = new Error('mailbox unavailable') as Error & { responseCode: number };
          err.responseCode = 550;
          callback(err);
          return;
        }
        callback();
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          simpleParser(raw)
            .then((parsed) => {
              const text = parsed.text ?? '';
              this.received.push({
                to: session.envelope.rcptTo.map((r) => r.address).join(','),
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
                subject: parsed.subject ?? '',
                text,
                html: typeof parsed.html === 'string' ? parsed.html : '',
                messageId: parsed.messageId ?? '',
                raw,
                ...linkOf(text),
              });
              callback();
            })
            .catch((err: Error) => callback(err));
        });
      },
    });
    server.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    if ((server.server.address() as AddressInfo).port !== this.port) throw new Error('SMTP server on the wrong port');
    this.server = server;
  }

  /** Stops listening and drops open connections: an outage. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Mails to `to`, in arrival order. */
  to(to: string): ReceivedMail[] {
    return this.received.filter((m) => m.to === to);
  }

  /** Waits until `count` mails to `to` have arrived; returns them. */
  async waitFor(to: string, count = 1, timeoutMs = 20_000): Promise<ReceivedMail[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.to(to).length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} mail(s) to ${to} within ${timeoutMs} ms, got ${this.to(to).length}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return this.to(to);
  }
}
