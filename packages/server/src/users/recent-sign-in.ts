// "Prove a recent sign-in": where a route would ask for the current password and the
// account has none (created by a provider), or where removing a way to sign in needs a
// fresh proof, the access token's auth_time must be recent; else RFC 9470's challenge.
import { AuthError } from '../errors.ts';

export const RECENT_SIGN_IN_SECONDS = 600;

export function requireRecentSignIn(claims: { auth_time?: number | undefined; iat: number }, nowMs: number): void {
  const authTime = claims.auth_time ?? claims.iat;
  if (nowMs / 1000 - authTime > RECENT_SIGN_IN_SECONDS) {
    throw new AuthError('insufficient_user_authentication', 'Sign in again (or step up) first: this needs a sign-in from the last 10 minutes', {
      max_age: RECENT_SIGN_IN_SECONDS,
    });
  }
}
