/**
 * Why a token was refused. Stable: services may branch on it.
 * - `malformed`: not a compact JWS, bad base64url/JSON, too long, no usable `kid`
 * - `unsupported_alg`: `alg` other than RS256 (including `none` and HMAC)
 * - `invalid_type`: `typ` is not `at+jwt` (an ID token or other JWT)
 * - `forbidden_header`: `jwk`, `jku`, `x5u`, `x5c`, `crit` or `b64` present
 * - `unknown_kid`: no published key has this `kid`
 * - `invalid_signature`: signature does not verify
 * - `missing_claim`, `invalid_issuer`, `invalid_audience`, `expired`, `not_yet_valid`
 * - `lifetime_too_long`: `exp - iat` exceeds the verifier's `maxTokenLifetime`
 * - `revoked`: the session, token or user was revoked (denylist)
 * - `jwks_unavailable`: the key set could not be fetched
 * - `revocation_unavailable`: revocation is configured but the denylist could not be loaded
 *   yet (the verifier refuses rather than let a revoked token through)
 */
export type VerifyErrorCode =
  | 'malformed'
  | 'unsupported_alg'
  | 'invalid_type'
  | 'forbidden_header'
  | 'unknown_kid'
  | 'invalid_signature'
  | 'missing_claim'
  | 'invalid_issuer'
  | 'invalid_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'lifetime_too_long'
  | 'revoked'
  | 'jwks_unavailable'
  | 'revocation_unavailable';

/**
 * Thrown by `verify()` with the reason in `code`.
 *
 * @example
 * ```ts
 * try { await verify(token) } catch (e) {
 *   if (e instanceof VerifyError && e.code === 'expired') refreshAndRetry();
 * }
 * ```
 */
export class VerifyError extends Error {
  constructor(
    readonly code: VerifyErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'VerifyError';
  }
}
