// Mailed links against credential changes. A link mailed to an address (reset, verification,
// email change) must not outlive a change of the credentials it would otherwise bypass:
// whoever phished the password and asked for an email change loses the link once the owner
// changes or resets the password, an operator disables the account or sets a password, or a
// second factor is removed. Both halves run under the user's row lock, in this order (the
// user's row, then the link's), so a link used on one replica while a credential changes on
// another is either used before the change commits or refused after it, and never deadlocks.
import type { Queryable } from '../db/db.ts';
import { AuthError } from '../errors.ts';
import { userStore, type User } from '../users/user-store.ts';
import { mailTokenStore, type MailToken, type MailTokenPurpose } from './mail-token-store.ts';
import { assertUsable, voidedError } from './mail-tokens.ts';

export type CredentialChange = 'password_changed' | 'account_disabled' | 'second_factor_removed';

/**
 * Voids every outstanding mailed link of the user, of every purpose, and records the change
 * so a link mail still queued from before is never sent (account-mail.ts). Call in the
 * transaction of the change, which holds the user's row lock.
 */
export async function voidMailedLinks(tx: Queryable, userId: string, now: Date, reason: CredentialChange): Promise<void> {
  await userStore.markCredentialsChanged(tx, userId, now);
  await mailTokenStore.voidAllForUser(tx, userId, now, reason);
}

/**
 * Locks the owner of a presented link, then the link itself, and refuses it unless it can
 * be used now: unknown, used, voided, expired, its account gone or disabled, or minted
 * before the account's last credential change. The caller marks it used.
 */
export async function lockUsableLink(tx: Queryable, tokenHash: string, purpose: MailTokenPurpose, now: Date): Promise<{ token: MailToken; owner: User }> {
  // Unlocked first, only to learn whose it is: the owner's row lock comes before the link's,
  // as in every credential change (which waits for us, or we for it and then see its work).
  const seen = await mailTokenStore.find(tx, tokenHash, purpose);
  const owner = seen && (await userStore.lockById(tx, seen.userId));
  const token = await mailTokenStore.lock(tx, tokenHash, purpose);
  assertUsable(token, now.getTime());
  if (!owner || owner.id !== token.userId) throw new AuthError('mail_token_invalid', 'The link is not valid; request a new one');
  if (owner.disabledAt) throw voidedError('account_disabled');
  // Voided with the change already; this also holds for a link minted in the same instant.
  if (owner.credentialsChangedAt && token.createdAt < owner.credentialsChangedAt) throw voidedError('credentials_changed');
  if (token.createdAt < owner.passwordChangedAt) throw voidedError('password_changed');
  return { token, owner };
}
