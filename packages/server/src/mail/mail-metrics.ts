import { Counter, type Registry } from 'prom-client';
import { MAIL_KINDS, type MailKind } from './templates.ts';

/**
 * `sent`: accepted by the SMTP server (or written to MAIL_DIR); `retried`: an attempt failed
 * and the mail is due again later; `failed`: given up (refused permanently, or still failing
 * when its link expired; audited as mail.failed); `dropped`: nothing left to send (no such
 * account, a newer request, the address changed).
 */
export type MailOutcomeLabel = 'sent' | 'retried' | 'failed' | 'dropped';

export interface MailMetrics {
  mail(kind: MailKind, outcome: MailOutcomeLabel): void;
}

export const noopMailMetrics: MailMetrics = { mail() {} };

/** tessera_mails_total{kind, outcome}, registered in the app's own registry. */
export function mailMetrics(registry: Registry): MailMetrics {
  const counter = new Counter({
    name: 'tessera_mails_total',
    help: 'Mail send attempts by kind and outcome (sent, retried, failed: given up, dropped: nothing left to send).',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });
  for (const kind of MAIL_KINDS) for (const outcome of ['sent', 'retried', 'failed', 'dropped'] as const) counter.inc({ kind, outcome }, 0);
  return { mail: (kind, outcome) => counter.inc({ kind, outcome }) };
}
