// Time limits shared by Tessera's server and every verifier. They are one set of numbers on
// purpose: a denylist entry must outlive every token it can affect, and "every token it can
// affect" depends on how long tokens live and how much clock skew anyone tolerates.

/**
 * The most clock skew, in seconds, tolerated between the machines that issue, verify and
 * revoke tokens. Tessera keeps a denylist entry until the last access token it can affect
 * has expired plus this much, and keeps a retired signing key published as long. A verifier
 * whose `clockTolerance` exceeded it would accept a revoked token again once its denylist
 * entry is gone, so `createVerifier` refuses a larger tolerance.
 */
export const MAX_CLOCK_SKEW_SECONDS = 60;

/** Tessera's default access-token lifetime (`ACCESS_TOKEN_TTL`), seconds. */
export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 900;

/**
 * The longest `exp - iat` a verifier accepts unless told otherwise: Tessera's default
 * access-token lifetime plus the skew. A token that claims to live longer was not issued by
 * a Tessera with default settings; with a verify cache it would otherwise stay accepted
 * until an `exp` its signer chose.
 */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = DEFAULT_ACCESS_TOKEN_TTL_SECONDS + MAX_CLOCK_SKEW_SECONDS;
