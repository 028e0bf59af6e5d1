// What the passkey and provider modules need from the client: Tessera calls, the bearer of
// the session, and a way to start a session from a token response. Kept apart so those
// modules depend on this interface, not on the client class (no import cycle).

export interface CallOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  body?: unknown;
  /** Send and accept the refresh cookie (cookie delivery). */
  credentials?: boolean;
  expect?: number;
  bearer?: string;
}

/** A token response, or a login's `mfa_required` challenge. */
export type TokenOrChallenge = Record<string, unknown>;

export type LoginResult =
  | { status: 'signed_in' }
  /** A second factor is required: call `verifyMfa` (or `verifyMfaWithPasskey`) with this token. */
  | { status: 'mfa_required'; mfaToken: string; methods: string[]; expiresIn: number };

export interface ClientPort {
  readonly baseUrl: string;
  readonly delivery: 'cookie' | 'body';
  /** Sends JSON to Tessera; resolves with the JSON body, rejects with a TesseraError. */
  call(path: string, options: CallOptions): Promise<Record<string, unknown>>;
  /** The current access token; a TesseraError `invalid_token` when signed out. */
  bearer(): Promise<string>;
  /** Starts (or replaces) the session from a token response, or hands back the mfa challenge. */
  signIn(body: TokenOrChallenge): Promise<LoginResult>;
}
