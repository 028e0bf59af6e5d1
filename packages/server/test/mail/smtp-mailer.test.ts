// An SMTP failure names SMTP_URL and where it points (never the password), in the outbox's
// retry log and its stored error, so an operator knows which setting to look at.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { SmtpMailer } from '../../src/mail/smtp-mailer.ts';
import { MailSendError } from '../../src/mail/mailer.ts';
import { captureLogger } from '../helpers/app.ts';

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('SmtpMailer', () => {
  it('names SMTP_URL without its password when the server cannot be reached', async () => {
    const port = await closedPort();
    const mailer = new SmtpMailer(`smtp://mailer:hunter2@127.0.0.1:${port}`, 'Tessera <no-reply@example.test>', captureLogger().logger);
    const sent = mailer.send({
      kind: 'password_reset',
      to: 'someone@example.test',
      subject: 's',
      text: 't',
      html: '<p>t</p>',
      messageId: '<1@example.test>',
    });
    const err = await sent.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailSendError);
    expect((err as MailSendError).permanent).toBe(false);
    expect((err as Error).message).toMatch(new RegExp(`^SMTP_URL \\(smtp://mailer@127\\.0\\.0\\.1:${port}\\): .*ECONNREFUSED`));
    expect((err as Error).message).not.toContain('hunter2');
    await mailer.close();
  });
});
