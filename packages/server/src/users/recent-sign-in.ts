// "Prove a recent sign-in": where a route would ask for the current password and the
// account has none (created by a provider), or where adding or removing a way to sign in
// needs a fresh proof, the access token's auth_time must be recent; else RFC 9470's
// challenge. A token without auth_time proves nothing recent: its iat is the last refresh,
// not the last sign-in.
import { AuthError } from '../errors.ts';

export const RECENT_SIGN_IN_SECONDS = 600;

export function requireRecentSignIn(claims: { auth_time?: number | undefined }, nowMs: number): void {
  const authTime = claims.auth_time;
  if (typeof authTime === 'number' && nowMs / 1000 - authTime <= RECENT_SIGN_IN_SECONDS) return;
  throw new AuthError('insufficient_user_authentication', 'Sign in again (or step up) first: this needs a sign-in from the last 10 minutes', {
    max_age: RECENT_SIGN_IN_SECONDS,
  });
}
