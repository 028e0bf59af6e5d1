// The embedded default writes every mail as an RFC 5322 .eml file a person opens in any mail
// client; these tests read them back with a MIME parser, as a mail client would. Also:
// operator templates (MAIL_TEMPLATES_DIR) and how a broken one stops the start.
import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { FileMailer } from '../../src/mail/file-mailer.ts';
import { loadTemplates, renderMail, TemplateError } from '../../src/mail/templates.ts';
import { captureLogger, createTestApp, tempDir } from '../helpers/app.ts';
import { createTestDb } from '../helpers/db.ts';
import { linkOf } from '../helpers/smtp.ts';

describe('FileMailer', () => {
  it('writes a MIME message a mail client reads, owner-only, replaced (not duplicated) by a retry', async () => {
    const dir = path.join(tempDir('tessera-mail-'), 'nested');
    const { logger, lines } = captureLogger('info');
    const mailer = new FileMailer(dir, 'Tessera <auth@example.test>', logger);
    const link = `https://app.example.test/reset-password#token=mt_${'x'.repeat(43)}`;
    const message = {
      messageId: '<20260101T000000Z.7.abcdef@example.test>',
      kind: 'password_reset',
      to: 'ada@example.com',
      subject: 'Réinitialiser — reset',
      text: `Open ${link} within 30 minutes.\n`,
      html: `<p><a href="${link}">Reset</a></p>`,
    };
    await mailer.send(message);
    await mailer.send(message);
    const files = fs.readdirSync(dir);
    expect(files).toEqual(['20260101T000000Z.7.abcdef-password_reset.eml']);
    const file = path.join(dir, files[0]!);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const raw = fs.readFileSync(file, 'utf8');
    expect(raw).toMatch(/\r\n\r\n/);
    expect(raw).toMatch(/^Content-Type: multipart\/alternative;/m);
    const parsed = await simpleParser(raw);
    expect(parsed.from?.value).toEqual([{ name: 'Tessera', address: 'auth@example.test' }]);
    expect(parsed.subject).toBe('Réinitialiser — reset');
    expect(parsed.messageId).toBe(message.messageId);
    expect(parsed.date).toBeInstanceOf(Date);
    expect(linkOf(parsed.text ?? '').link).toBe(link);
    expect(parsed.html).toContain(link);
    // The log says a mail was written, to whom and of which kind; never the link.
    const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'mail.written');
    expect(line).toMatchObject({ kind: 'password_reset', to: 'ada@example.com', file });
    expect(lines.join('\n')).not.toContain('mt_');
  });
});

describe('mail templates', () => {
  it('replaces the built-in ones file by file, escaping values in HTML', () => {
    const dir = tempDir('tessera-templates-');
    fs.writeFileSync(path.join(dir, 'password_reset.subject.txt'), 'Acme: new password\n');
    fs.writeFileSync(path.join(dir, 'password_reset.txt'), 'Hello {{ email }}, go to {{link}} ({{expires_in}}).\n');
    const templates = loadTemplates(dir);
    const rendered = renderMail(templates.password_reset, { email: 'a<b>@example.com', link: 'https://x/#token=mt_1', expires_in: '30 minutes', app_url: 'https://x' });
    expect(rendered).toMatchObject({ subject: 'Acme: new password', text: 'Hello a<b>@example.com, go to https://x/#token=mt_1 (30 minutes).\n' });
    // The HTML body is still the built-in one, with the value escaped.
    expect(rendered.html).toContain('a&lt;b&gt;@example.com');
    expect(templates.email_verification).toEqual(loadTemplates(undefined).email_verification);
  });

  it('refuses unknown placeholders, a link mail without {{link}}, a missing folder: every problem at once', () => {
    const dir = tempDir('tessera-templates-');
    fs.writeFileSync(path.join(dir, 'email_verification.txt'), 'Click {{lnik}}\n');
    fs.writeFileSync(path.join(dir, 'email_change_notice.html'), '<p>{{link}}</p>');
    let error: unknown;
    try {
      loadTemplates(dir);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TemplateError);
    const problems = (error as TemplateError).problems.join('\n');
    expect(problems).toContain('unknown placeholder {{lnik}}');
    expect(problems).toContain('email_verification text: must contain {{link}}');
    expect(problems).toContain('unknown placeholder {{link}}');
    expect(() => loadTemplates(path.join(dir, 'missing'))).toThrow(/not a readable directory/);
  });

  it('an app with a broken template does not start', async () => {
    const dir = tempDir('tessera-templates-');
    fs.writeFileSync(path.join(dir, 'password_reset.txt'), 'no link here\n');
    const db = await createTestDb('pglite');
    try {
      await expect(createTestApp({ db, env: { MAIL_TEMPLATES_DIR: dir } })).rejects.toThrow(/password_reset text: must contain \{\{link\}\}/);
    } finally {
      await db.drop();
    }
  });
});
