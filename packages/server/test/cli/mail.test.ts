// `tessera mail list|show` reads what the real file mailer writes and prints it decoded:
// the quoted-printable soft breaks that split a `#token=` link in the file are gone.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, type CliIo } from '../../src/cli/main.ts';
import { FileMailer } from '../../src/mail/file-mailer.ts';
import { captureLogger, tempDir } from '../helpers/app.ts';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const value: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: async () => '' };
  return { io: value, out, err };
}

const link = (n: number) => `https://app.example.test/reset-password#token=mt_${String(n).repeat(43)}`;

async function writeMails(dir: string): Promise<void> {
  const mailer = new FileMailer(dir, 'Tessera <auth@example.test>', captureLogger('warn').logger);
  // Sequences 9 then 10 in one second: "10" sorts before "9" as text, after it as numbers.
  for (const [seq, to] of [[9, 'ada@example.com'], [10, 'grace@example.com']] as const) {
    await mailer.send({
      messageId: `<20260101T000000Z.${seq}.abcdef@example.test>`,
      kind: 'password_reset',
      to,
      subject: `Reset your password (${seq})`,
      text: `Open ${link(seq % 10)} within 30 minutes.\n`,
      html: `<p><a href="${link(seq % 10)}">Reset</a></p>`,
    });
  }
}

describe('tessera mail', () => {
  const dir = tempDir('tessera-cli-mail-');
  const env = { MAIL_DIR: dir, KEYS_DIR: tempDir() };

  it('lists the mails oldest first and shows one decoded, its link whole on one line', async () => {
    await writeMails(dir);
    const raw = fs.readFileSync(path.join(dir, fs.readdirSync(dir).find((f) => f.startsWith('20260101T000000Z.9.'))!), 'utf8');
    expect(raw).not.toContain(link(9)); // split by quoted-printable in the file itself

    const list = io();
    expect(await runCli(['mail', 'list'], list.io, env)).toBe(0);
    expect(list.out).toHaveLength(2);
    expect(list.out[0]).toMatch(/^ +1 .*ada@example\.com.*Reset your password \(9\)$/);
    expect(list.out[1]).toMatch(/^ +2 .*grace@example\.com.*Reset your password \(10\)$/);

    const first = io();
    expect(await runCli(['mail', 'show', '1'], first.io, env)).toBe(0);
    const lines = first.out.join('\n').split('\n');
    expect(lines).toContain('From: "Tessera" <auth@example.test>');
    expect(lines).toContain('To: ada@example.com');
    expect(lines).toContain('Subject: Reset your password (9)');
    expect(lines.some((l) => /^Date: \d{4}-\d\d-\d\dT/.test(l))).toBe(true);
    expect(lines).toContain(`Open ${link(9)} within 30 minutes.`);

    const latest = io();
    expect(await runCli(['mail', 'show', 'latest'], latest.io, env)).toBe(0);
    expect(latest.out.join('\n').split('\n')).toContain(`Open ${link(0)} within 30 minutes.`);
  });

  it('answers a bad index or command with a usage error (exit 2)', async () => {
    for (const args of [['mail', 'show', '3'], ['mail', 'show', '0'], ['mail', 'show', 'first'], ['mail', 'show'], ['mail', 'send']]) {
      const run = io();
      expect(await runCli(args, run.io, env)).toBe(2);
      expect(run.err[0]).toMatch(/^tessera: (unknown )?mail /);
    }
  });

  it('says so when there is no mail', async () => {
    const empty = { ...env, MAIL_DIR: path.join(tempDir(), 'none') };
    const list = io();
    expect(await runCli(['mail', 'list'], list.io, empty)).toBe(0);
    expect(list.out[0]).toMatch(/^no mail in /);
    const show = io();
    expect(await runCli(['mail', 'show', 'latest'], show.io, empty)).toBe(1);
    expect(show.err[0]).toMatch(/no mail in/);
  });
});
