// The closed set of error codes clients may rely on. Adding a code is an API change:
// add it to openapi.yaml too (a test checks that every code here is documented).

export const ERROR_STATUS = {
  validation_failed: 400,
  malformed_json: 400,
  unsupported_media_type: 415,
  payload_too_large: 413,
  request_timeout: 408,
  headers_too_large: 431,
  invalid_credentials: 401,
  invalid_token: 401,
  token_revoked: 401,
  invalid_grant: 401,
  refresh_token_reused: 401,
  session_expired: 401,
  invalid_client: 401,
  invalid_mfa_token: 401,
  invalid_mfa_code: 401,
  csrf_rejected: 403,
  client_not_permitted: 403,
  not_found: 404,
  email_taken: 409,
  mfa_already_enabled: 409,
  mfa_not_enabled: 409,
  rate_limited: 429,
  // Account recovery: the secrets we mail (reset, verification, email change) and verified addresses.
  email_not_verified: 403,
  email_already_verified: 409,
  mail_token_invalid: 400,
  mail_token_expired: 410,
  mail_token_used: 410,
  mail_token_voided: 410,
  // Social sign-in (providers/). The callback sends these to the client as ?error=<code>.
  unknown_provider: 404,
  redirect_not_allowed: 400,
  invalid_state: 400,
  access_denied: 403,
  account_exists: 409,
  account_disabled: 403,
  identity_taken: 409,
  email_required: 400,
  invalid_id_token: 401,
  provider_error: 502,
  provider_unavailable: 503,
  // Passkeys (WebAuthn), and the rule shared by every way to sign in (last_sign_in_method).
  invalid_passkey: 401,
  invalid_webauthn_challenge: 401,
  passkey_already_registered: 409,
  last_sign_in_method: 409,
  // RFC 9470: the bearer token is valid but its sign-in too old (or too weak) for this route.
  insufficient_user_authentication: 401,
  internal_error: 500,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

const TITLES: Record<ErrorCode, string> = {
  validation_failed: 'Request validation failed',
  malformed_json: 'Malformed JSON body',
  unsupported_media_type: 'Unsupported media type',
  payload_too_large: 'Payload too large',
  request_timeout: 'Request timeout',
  headers_too_large: 'Request headers too large',
  invalid_credentials: 'Invalid email or password',
  invalid_token: 'Invalid access token',
  token_revoked: 'Access token revoked',
  invalid_grant: 'Invalid refresh token',
  refresh_token_reused: 'Refresh token reused',
  session_expired: 'Session expired',
  invalid_client: 'Invalid client credentials',
  invalid_mfa_token: 'Invalid or expired mfa_token',
  invalid_mfa_code: 'Invalid second-factor code',
  csrf_rejected: 'Cross-site request rejected',
  client_not_permitted: 'Client not permitted',
  not_found: 'Not found',
  email_taken: 'Email already registered',
  mfa_already_enabled: 'Second factor already active',
  mfa_not_enabled: 'No second factor',
  rate_limited: 'Too many requests',
  email_not_verified: 'Email address not verified',
  email_already_verified: 'Email address already verified',
  mail_token_invalid: 'Invalid link',
  mail_token_expired: 'Link expired',
  mail_token_used: 'Link already used',
  mail_token_voided: 'Link no longer valid',
  unknown_provider: 'Unknown provider',
  redirect_not_allowed: 'redirect_to not allowed',
  invalid_state: 'Invalid or expired state',
  access_denied: 'Sign-in cancelled or denied at the provider',
  account_exists: 'An account with this email already exists',
  account_disabled: 'Account disabled',
  identity_taken: 'Identity linked to another account',
  email_required: 'The provider gave no usable email address',
  invalid_id_token: 'Invalid ID token',
  provider_error: 'The provider answered with an error',
  provider_unavailable: 'The provider cannot be reached',
  invalid_passkey: 'Passkey not accepted',
  invalid_webauthn_challenge: 'Unknown, expired or already used challenge',
  passkey_already_registered: 'Passkey already registered',
  last_sign_in_method: 'Last way to sign in',
  insufficient_user_authentication: 'More recent sign-in required',
  internal_error: 'Internal server error',
  service_unavailable: 'Service unavailable',
};

/** A failure the client caused or may see. `detail` is shown to clients: never put a secret in it. */
export class AuthError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly detail: string = TITLES[code],
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = 'AuthError';
    this.status = ERROR_STATUS[code];
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  [extension: string]: unknown;
}

export function problemFor(error: AuthError): Problem {
  return {
    type: `urn:tessera:error:${error.code}`,
    title: TITLES[error.code],
    status: error.status,
    detail: error.detail,
    code: error.code,
    ...error.extra,
  };
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';
