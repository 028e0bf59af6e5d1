/** Why a session ended, as reported by the `sessionend` event. */
export type SessionEndReason =
  /** This client (or another tab of the same app) logged out. */
  | 'logout'
  /** A rotated refresh token was presented again: Tessera revoked the session (theft detection). */
  | 'reused'
  /** The session was revoked elsewhere (logout-all, password change, an operator). */
  | 'revoked'
  /** The session outlived its idle or absolute lifetime. */
  | 'expired';

/**
 * A failed call to Tessera. `code` is the server's stable snake_case code
 * (`invalid_credentials`, `rate_limited`, `refresh_token_reused`, …), or `network_error`
 * when no answer came back.
 *
 * @example
 * ```ts
 * try { await client.login({ email, password }) } catch (e) {
 *   if (e instanceof TesseraError && e.code === 'invalid_credentials') showWrongPassword();
 * }
 * ```
 */
export class TesseraError extends Error {
  override readonly name = 'TesseraError';

  constructor(
    /** The server's `code`, or `network_error`. */
    readonly code: string,
    /** The HTTP status; 0 when the request never got an answer. */
    readonly status: number,
    message: string,
    /** The whole problem+json body, when there was one (e.g. `errors` naming bad fields). */
    readonly problem?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** Reads a problem+json (or RFC 6749) error body into a TesseraError. */
export async function errorFrom(response: Response): Promise<TesseraError> {
  let body: Record<string, unknown> | undefined;
  try {
    body = (await response.json()) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  const code = typeof body?.code === 'string' ? body.code : typeof body?.error === 'string' ? body.error : `http_${response.status}`;
  const detail = typeof body?.detail === 'string' ? body.detail : typeof body?.error_description === 'string' ? body.error_description : response.statusText;
  return new TesseraError(code, response.status, detail || code, body);
}

/** Maps a refused refresh to why the session is over; undefined when it may still be alive. */
export function endReasonOf(error: TesseraError): SessionEndReason | undefined {
  if (error.status !== 401) return undefined;
  if (error.code === 'refresh_token_reused') return 'reused';
  if (error.code === 'session_expired') return 'expired';
  return 'revoked';
}
