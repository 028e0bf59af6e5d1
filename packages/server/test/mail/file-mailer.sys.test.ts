// The embedded default as a process: a registration's verification mail is an .eml file under
// MAIL_DIR that a MIME parser reads back, and its link verifies the address.
import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { startProcess, type TesseraProcess } from '../helpers/process.ts';
import { linkOf } from '../helpers/smtp.ts';

const emlFiles = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.eml')) : []);

describe('the embedded default as a process (PGlite, no SMTP_URL)', () => {
  const mailDir = tempDir('tessera-mail-');
  let server: TesseraProcess | undefined;
  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  it('registering writes a verification .eml under MAIL_DIR; read back, its link verifies the address', async () => {
    server = await startProcess({
      env: { DATA_DIR: tempDir('tessera-data-'), KEYS_DIR: tempDir('tessera-keys-'), MAIL_DIR: mailDir, APP_URL: 'http://localhost:8080', LOG_LEVEL: 'info' },
      // PGlite (WASM) boots in tens of seconds on a busy 2-core machine.
      readyTimeoutMs: 240_000,
    });
    const email = uniqueEmail('embedded');
    const registered = await fetch(`${server.url}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }) });
    expect(registered.status).toBe(201);
    const deadline = Date.now() + 30_000;
    while (emlFiles(mailDir).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const [name] = emlFiles(mailDir);
    expect(name).toMatch(/-email_verification\.eml$/);
    const parsed = await simpleParser(fs.readFileSync(path.join(mailDir, name!)));
    expect(parsed.to && !Array.isArray(parsed.to) ? parsed.to.text : '').toBe(email);
    expect(parsed.subject).toBe('Confirm your email address');
    const { link, token } = linkOf(parsed.text ?? '');
    expect(link).toMatch(/^http:\/\/localhost:8080\/verify-email#token=mt_/);
    const verified = await fetch(`${server.url}/auth/email/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    expect(verified.status).toBe(200);
    expect(await verified.json()).toMatchObject({ email, email_verified: true });
    // The log says which mail was written to whom, never its link.
    expect(server.output()).toMatch(/"event":"mail.written".*"kind":"email_verification"/);
    expect(server.output()).toContain(email);
    expect(server.output()).not.toContain(token!);
  }, 300_000);
});
