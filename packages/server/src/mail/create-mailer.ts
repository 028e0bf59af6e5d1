// The transport the configuration asks for: SMTP when SMTP_URL is set, else .eml files.
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { FileMailer } from './file-mailer.ts';
import type { Mailer } from './mailer.ts';
import { SmtpMailer } from './smtp-mailer.ts';

export function createMailer(config: Pick<Config, 'mail'>, logger: Logger): Mailer {
  const { smtpUrl, from, dir } = config.mail;
  return smtpUrl ? new SmtpMailer(smtpUrl, from, logger) : new FileMailer(dir, from, logger);
}
