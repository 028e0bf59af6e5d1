// `tessera mail list|show`: the embedded default's mail (.eml files in MAIL_DIR), decoded,
// so a developer completes a reset or a verification without a mail client. The files are
// quoted-printable, which folds long lines (`#token=` links among them) with soft breaks;
// printed decoded, every link is whole on one line.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.ts';
import { UsageError, type CliIo, type Command } from './command.ts';

interface DecodedMail {
  file: string;
  from: string;
  to: string;
  subject: string;
  date: string;
  text: string;
}

export const mailCommand: Command = async (args, config, io, flags) => {
  const [sub, ...rest] = args;
  if (sub !== 'list' && sub !== 'show') throw new UsageError(sub ? `unknown mail command "${sub}"` : 'mail needs a command');
  const files = await mailFiles(config.mail.dir);
  if (sub === 'list') {
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    return list(files, config, io, flags.json);
  }
  if (rest.length !== 1) throw new UsageError('mail show needs one argument: a number from `tessera mail list`, or latest');
  const file = pick(files, rest[0]!, config);
  const mail = await decode(config.mail.dir, file);
  if (flags.json) {
    io.out(JSON.stringify(mail));
    return;
  }
  io.out(`From: ${mail.from}\nTo: ${mail.to}\nSubject: ${mail.subject}\nDate: ${mail.date}\n\n${mail.text.replace(/\r\n/g, '\n').trimEnd()}`);
};

async function list(files: string[], config: Config, io: CliIo, json: boolean): Promise<void> {
  const mails = await Promise.all(files.map((f) => decode(config.mail.dir, f)));
  if (json) {
    io.out(JSON.stringify(mails.map((m, i) => ({ n: i + 1, file: m.file, from: m.from, to: m.to, subject: m.subject, date: m.date }))));
    return;
  }
  if (mails.length === 0) {
    io.out(`no mail in ${config.mail.dir}${config.mail.smtpUrl ? ' (SMTP_URL is set: mail goes to the SMTP server, not to files)' : ''}`);
    return;
  }
  // Oldest first, numbered from 1: a number keeps naming the same mail as new ones arrive.
  mails.forEach((m, i) => io.out(`${String(i + 1).padStart(3)}  ${m.date}  ${m.to}  ${m.subject}`));
}

/** The `.eml` files, oldest first: their names start with the time and the outbox sequence. */
async function mailFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const numeric = new Intl.Collator('en', { numeric: true });
  return names.filter((n) => n.endsWith('.eml')).sort(numeric.compare);
}

function pick(files: string[], which: string, config: Config): string {
  if (files.length === 0) throw new Error(`no mail in ${config.mail.dir}`);
  if (which === 'latest') return files[files.length - 1]!;
  const n = /^[1-9]\d*$/.test(which) ? Number(which) : NaN;
  if (!(n <= files.length)) {
    throw new UsageError(`mail show takes a number from 1 to ${files.length} or latest, not "${which}"`);
  }
  return files[n - 1]!;
}

async function decode(dir: string, file: string): Promise<DecodedMail> {
  // Loaded here only: the parser is not needed by the server or by any other command.
  const { simpleParser } = await import('mailparser');
  const parsed = await simpleParser(await fs.readFile(path.join(dir, file)));
  const addresses = (a: typeof parsed.to) => (a === undefined ? '' : (Array.isArray(a) ? a : [a]).map((x) => x.text).join(', '));
  return {
    file,
    from: parsed.from?.text ?? '',
    to: addresses(parsed.to),
    subject: parsed.subject ?? '',
    date: parsed.date?.toISOString() ?? '',
    text: parsed.text ?? '',
  };
}
