// The text of each mail: a subject, a plain-text body and an HTML body per kind, with
// {{placeholders}}. Built-in defaults; an operator replaces any of them by putting a file
// in MAIL_TEMPLATES_DIR: <kind>.subject.txt, <kind>.txt, <kind>.html. Templates are checked
// at start (unknown placeholders, a link-carrying mail without {{link}}), so a typo stops
// the server instead of sending broken mail.
import fs from 'node:fs';
import path from 'node:path';

export const MAIL_KINDS = [
  'password_reset',
  'email_verification',
  'email_change',
  'email_change_notice',
  'email_change_taken',
  'mfa_recovery_code_used',
  'mfa_locked',
] as const;
export type MailKind = (typeof MAIL_KINDS)[number];

/** Kinds whose mail carries a secret link. */
export const LINK_KINDS: ReadonlySet<MailKind> = new Set(['password_reset', 'email_verification', 'email_change']);

export interface MailTemplate {
  subject: string;
  text: string;
  html: string;
}

export type MailTemplates = Record<MailKind, MailTemplate>;

/** Every placeholder each kind may use. */
const VARIABLES: Record<MailKind, readonly string[]> = {
  password_reset: ['app_url', 'email', 'link', 'expires_in'],
  email_verification: ['app_url', 'email', 'link', 'expires_in'],
  email_change: ['app_url', 'email', 'old_email', 'link', 'expires_in'],
  email_change_notice: ['app_url', 'email', 'new_email'],
  email_change_taken: ['app_url', 'email'],
  mfa_recovery_code_used: ['app_url', 'email', 'recovery_codes_left'],
  mfa_locked: ['app_url', 'email', 'locked_for'],
};

const html = (title: string, body: string) =>
  `<!doctype html>\n<html><body style="font-family: sans-serif; line-height: 1.5">\n<h2>${title}</h2>\n${body}\n</body></html>\n`;

const DEFAULTS: MailTemplates = {
  password_reset: {
    subject: 'Reset your password',
    text: `Someone asked to reset the password of the account {{email}}.\n\nTo choose a new password, open this link within {{expires_in}}:\n\n{{link}}\n\nIf it was not you, ignore this mail: your password stays as it is.\n`,
    html: html(
      'Reset your password',
      `<p>Someone asked to reset the password of the account {{email}}.</p>\n<p><a href="{{link}}">Choose a new password</a> (the link works for {{expires_in}}).</p>\n<p>If it was not you, ignore this mail: your password stays as it is.</p>`,
    ),
  },
  email_verification: {
    subject: 'Confirm your email address',
    text: `Please confirm that {{email}} is your address by opening this link within {{expires_in}}:\n\n{{link}}\n\nIf you did not create an account, ignore this mail.\n`,
    html: html(
      'Confirm your email address',
      `<p>Please confirm that {{email}} is your address.</p>\n<p><a href="{{link}}">Confirm my address</a> (the link works for {{expires_in}}).</p>\n<p>If you did not create an account, ignore this mail.</p>`,
    ),
  },
  email_change: {
    subject: 'Confirm your new email address',
    text: `Someone asked to change the address of the account {{old_email}} to {{email}}.\n\nTo confirm, open this link within {{expires_in}}:\n\n{{link}}\n\nIf it was not you, ignore this mail: nothing changes.\n`,
    html: html(
      'Confirm your new email address',
      `<p>Someone asked to change the address of the account {{old_email}} to {{email}}.</p>\n<p><a href="{{link}}">Confirm the change</a> (the link works for {{expires_in}}).</p>\n<p>If it was not you, ignore this mail: nothing changes.</p>`,
    ),
  },
  email_change_notice: {
    subject: 'Your email address is being changed',
    text: `Someone asked to change the address of your account from {{email}} to {{new_email}}.\n\nNothing changes until the new address is confirmed. If it was not you, change your password now; until the change is confirmed you can also reset it from this address.\n`,
    html: html(
      'Your email address is being changed',
      `<p>Someone asked to change the address of your account from {{email}} to {{new_email}}.</p>\n<p>Nothing changes until the new address is confirmed. If it was not you, change your password now; until the change is confirmed you can also reset it from this address.</p>`,
    ),
  },
  email_change_taken: {
    subject: 'Someone tried to use your email address',
    text: `Someone signed in to another account asked to change its address to {{email}}, which is the address of your account.\n\nNothing changed: your account keeps this address, and no other account can take it. If it was you, you can ignore this mail. If it was not, you need not do anything.\n`,
    html: html(
      'Someone tried to use your email address',
      `<p>Someone signed in to another account asked to change its address to {{email}}, which is the address of your account.</p>\n<p>Nothing changed: your account keeps this address, and no other account can take it. If it was you, you can ignore this mail. If it was not, you need not do anything.</p>`,
    ),
  },
  mfa_recovery_code_used: {
    subject: 'A recovery code was used for your account',
    text: `One of the recovery codes of the account {{email}} was just used instead of the authenticator app. {{recovery_codes_left}} unused codes are left.\n\nIf it was you, consider setting up the authenticator again to get new codes. If it was not you, someone has your password and a recovery code: change your password now and remove the second factor to set up a new one.\n`,
    html: html(
      'A recovery code was used for your account',
      `<p>One of the recovery codes of the account {{email}} was just used instead of the authenticator app. {{recovery_codes_left}} unused codes are left.</p>\n<p>If it was you, consider setting up the authenticator again to get new codes. If it was not you, someone has your password and a recovery code: change your password now and remove the second factor to set up a new one.</p>`,
    ),
  },
  mfa_locked: {
    subject: 'Someone who knows your password is trying codes',
    text: `Too many wrong second-factor codes were entered for the account {{email}}, after its password was given correctly. Codes from the authenticator app are refused for {{locked_for}}; recovery codes still work.\n\nIf it was not you, someone knows your password: change it now. If it was you, wait, or sign in with a recovery code.\n`,
    html: html(
      'Someone who knows your password is trying codes',
      `<p>Too many wrong second-factor codes were entered for the account {{email}}, after its password was given correctly. Codes from the authenticator app are refused for {{locked_for}}; recovery codes still work.</p>\n<p>If it was not you, someone knows your password: change it now. If it was you, wait, or sign in with a recovery code.</p>`,
    ),
  },
};

const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;
const FILES = { subject: 'subject.txt', text: 'txt', html: 'html' } as const;

export class TemplateError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid mail templates:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'TemplateError';
  }
}

/** The built-in templates, with any file of `dir` in place of its default. Throws TemplateError listing every problem. */
export function loadTemplates(dir: string | undefined): MailTemplates {
  const problems: string[] = [];
  if (dir !== undefined && !isDirectory(dir)) throw new TemplateError([`MAIL_TEMPLATES_DIR ${dir} is not a readable directory`]);
  const templates = {} as MailTemplates;
  for (const kind of MAIL_KINDS) {
    const template = { ...DEFAULTS[kind] };
    for (const part of ['subject', 'text', 'html'] as const) {
      const file = dir === undefined ? undefined : path.join(dir, `${kind}.${FILES[part]}`);
      if (file !== undefined && fs.existsSync(file)) template[part] = fs.readFileSync(file, 'utf8');
      const where = file !== undefined && fs.existsSync(file) ? file : `built-in ${kind} ${part}`;
      for (const [, name] of template[part].matchAll(PLACEHOLDER)) {
        if (!VARIABLES[kind].includes(name!)) problems.push(`${where}: unknown placeholder {{${name}}} (known: ${VARIABLES[kind].join(', ')})`);
      }
    }
    template.subject = template.subject.trim();
    if (/[\r\n]/.test(template.subject)) problems.push(`${kind} subject: must be one line`);
    if (LINK_KINDS.has(kind) && !/\{\{\s*link\s*\}\}/.test(template.text)) problems.push(`${kind} text: must contain {{link}}`);
    templates[kind] = template;
  }
  if (problems.length > 0) throw new TemplateError(problems);
  return templates;
}

function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Fills the placeholders: raw in subject and text, HTML-escaped in the HTML body. */
export function renderMail(template: MailTemplate, values: Record<string, string>): MailTemplate {
  const fill = (source: string, encode: (v: string) => string) => source.replace(PLACEHOLDER, (_, name: string) => encode(values[name] ?? ''));
  return {
    // A value can never add a header line: addresses are validated, but be certain.
    subject: fill(template.subject, (v) => v.replace(/[\r\n]+/g, ' ')),
    text: fill(template.text, (v) => v),
    html: fill(template.html, escapeHtml),
  };
}

/** "30 minutes", "24 hours", "2 days": how long a link works, for people. */
export function humanDuration(seconds: number): string {
  // Days from two on: "24 hours" reads better than "1 day" for a link's lifetime.
  const units: [number, string, number][] = [
    [86_400, 'day', 2],
    [3_600, 'hour', 1],
    [60, 'minute', 1],
  ];
  for (const [size, name, least] of units) {
    if (seconds >= size * least && seconds % size === 0) {
      const n = seconds / size;
      return `${n} ${name}${n === 1 ? '' : 's'}`;
    }
  }
  const minutes = Math.max(1, Math.round(seconds / 60));
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}
