// The secrets we mail (password reset, email verification, email change): 256 random bits,
// stored only as a SHA-256 hash, single use, only the newest of a kind works.
import crypto from 'node:crypto';
import { AuthError } from '../errors.ts';
import type { MailToken } from './mail-token-store.ts';

const PREFIX = 'mt_';
const RANDOM_BYTES = 32;
const TOKEN_PATTERN = /^mt_[A-Za-z0-9_-]{43}$/;

export function generateMailToken(): string {
  return PREFIX + crypto.randomBytes(RANDOM_BYTES).toString('base64url');
}

/** A cheap shape check: junk never costs a query. */
export function looksLikeMailToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

/** SHA-256 suffices: 256 bits of entropy leave nothing to brute-force. */
export function hashMailToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('base64url');
}

const VOIDED_DETAIL: Record<string, string> = {
  superseded: 'A newer link was sent; use the most recent email',
  password_changed: 'The password was changed since this link was sent',
  email_changed: 'The email address was changed since this link was sent',
  account_disabled: 'The account was disabled since this link was sent',
  second_factor_removed: 'The second factor was removed since this link was sent',
  credentials_changed: 'The password or the security of the account changed since this link was sent',
};

/** The 410 mail_token_voided for `reason` (a key of the table above). */
export function voidedError(reason: string): AuthError {
  return new AuthError('mail_token_voided', VOIDED_DETAIL[reason] ?? 'This link is no longer valid; request a new one');
}

/**
 * Refuses a secret that cannot be used now, with the reason as its code. Used before
 * voided before expired: the most useful thing to tell the person holding the link.
 */
export function assertUsable(token: MailToken | undefined, now: number): asserts token is MailToken {
  if (!token) throw new AuthError('mail_token_invalid', 'The link is not valid; request a new one');
  if (token.usedAt) throw new AuthError('mail_token_used', 'This link was already used; request a new one if needed');
  if (token.voidedAt) throw voidedError(token.voidedReason ?? '');
  if (now >= token.expiresAt.getTime()) throw new AuthError('mail_token_expired', 'This link has expired; request a new one');
}
