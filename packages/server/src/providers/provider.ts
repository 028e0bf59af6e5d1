// What the sign-in service needs from a provider, whatever its protocol.
import { AuthError } from '../errors.ts';

/** Who the provider says the user is, after every check of its answer passed. */
export interface ProviderProfile {
  subject: string;
  /** Lower-cased; null when the provider gave none. */
  email: string | null;
  /** Only true when the provider asserts it (OIDC `email_verified`, GitHub's `verified`). */
  emailVerified: boolean;
  /** The ID token's `amr`, when it has one. */
  amr: string[] | null;
}

export interface AuthorizationRequest {
  redirectUri: string;
  state: string;
  nonce: string;
  codeChallenge: string;
}

export interface CallbackInput {
  redirectUri: string;
  /** The provider's answer: code, state (and iss), from the query or the form post. */
  params: URLSearchParams;
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface SignInProvider {
  readonly name: string;
  readonly type: 'oidc' | 'oauth2';
  readonly displayName: string;
  authorizationUrl(request: AuthorizationRequest): Promise<URL>;
  /** Exchanges the code (with our PKCE verifier) and checks state, nonce, ID token. */
  complete(input: CallbackInput): Promise<ProviderProfile>;
  /** A native SDK's ID token: signature, iss, aud (client id or AUDIENCES), exp, nonce. */
  verifyIdToken?(idToken: string, nonce: string | undefined): Promise<ProviderProfile>;
}

/**
 * Sorts a failure talking to a provider: unreachable or 5xx → provider_unavailable (503),
 * anything else it answered (a refused code, an ID token that fails a check) →
 * provider_error (502). The cause stays in our log, never in the answer.
 */
export function providerFailure(err: unknown): AuthError {
  if (err instanceof AuthError) return err;
  return isUnavailable(err)
    ? new AuthError('provider_unavailable', 'The sign-in provider cannot be reached; try again later')
    : new AuthError('provider_error', 'The sign-in provider answered with an error or an answer that failed its checks');
}

function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { name?: string; code?: string; status?: number; message?: string };
    if (x.name === 'AbortError' || x.name === 'TimeoutError') return true;
    if (typeof x.code === 'string' && /^(ECONN|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|UND_ERR)/.test(x.code)) return true;
    if (typeof x.status === 'number' && x.status >= 500) return true;
    if (e instanceof Response && e.status >= 500) return true;
    if (x.message === 'fetch failed') return true;
  }
  return false;
}

/** OIDC `email_verified` (Apple sends the string "true"). */
export const asVerified = (value: unknown): boolean => value === true || value === 'true';

export const normalizeProviderEmail = (value: unknown): string | null =>
  typeof value === 'string' && value.includes('@') ? value.trim().toLowerCase() : null;
