// The RS256 access-token check on the hot path, written on node:crypto directly: jose's
// jwtVerify goes through WebCrypto and costs several times the raw RSA verify (measured in
// bench/RESULTS.md; docs/architecture.md has the verifier's place in the request path). This
// file depends on nothing but node:crypto so the verifier library can be published on its own.
import crypto from 'node:crypto';
import { VerifyError } from './errors.js';

/** RFC 9068 access-token claims as Tessera issues them. */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  sid: string;
  nbf?: number;
  /** When the user last actively authenticated (seconds; RFC 9068 §2.2.1). */
  auth_time?: number;
  /** How: RFC 8176 values, `["pwd"]` or `["pwd", "otp"]` after a second factor. */
  amr?: string[];
  /** The authentication level, when Tessera is configured with one (ACR_PASSWORD, ACR_MFA). */
  acr?: string;
  /** The user's roles (RFC 9068 §2.2.3.1); absent when none. */
  roles?: string[];
  [claim: string]: unknown;
}

export interface JwtHeader {
  alg?: unknown;
  typ?: unknown;
  kid?: unknown;
  [name: string]: unknown;
}

export interface ParsedJwt {
  header: JwtHeader;
  kid: string;
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

/** Longest token accepted before any parsing: ours are ~800 bytes. */
export const DEFAULT_MAX_TOKEN_LENGTH = 8 * 1024;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

// Header members that would let the token choose its own key or change how it is read.
// We understand no `crit` extension, so any `crit` is rejected (RFC 7515 §4.1.11).
const FORBIDDEN_HEADERS = ['jwk', 'jku', 'x5u', 'x5c', 'crit', 'b64'];

/** Splits and decodes a compact JWS and checks the header; no signature check yet. */
export function parseAccessToken(token: unknown, maxLength = DEFAULT_MAX_TOKEN_LENGTH): ParsedJwt {
  if (typeof token !== 'string' || token.length === 0) throw new VerifyError('malformed', 'token is missing');
  if (token.length > maxLength) throw new VerifyError('malformed', 'token is too long');
  const firstDot = token.indexOf('.');
  const secondDot = token.indexOf('.', firstDot + 1);
  if (firstDot <= 0 || secondDot <= firstDot + 1 || token.indexOf('.', secondDot + 1) !== -1 || secondDot === token.length - 1) {
    throw new VerifyError('malformed', 'token must have three non-empty segments');
  }
  const headerB64 = token.slice(0, firstDot);
  const payloadB64 = token.slice(firstDot + 1, secondDot);
  const signatureB64 = token.slice(secondDot + 1);
  if (!BASE64URL.test(payloadB64) || !BASE64URL.test(signatureB64)) {
    throw new VerifyError('malformed', 'token segments must be base64url');
  }
  const header = checkedHeader(headerB64);
  const payload = decodeJson(payloadB64, 'payload');
  return {
    header,
    kid: header.kid as string,
    payload,
    signingInput: token.slice(0, secondDot),
    signature: Buffer.from(signatureB64, 'base64url'),
  };
}

// Every token signed with one key has the same header segment, so a header that passed
// checkHeader once is remembered by its exact text: decoding and checking it again is a
// tenth of a verification. Bounded, and only headers that passed are kept, so junk
// headers cannot grow it or get anything past the check.
const HEADER_CACHE_SIZE = 64;
const checkedHeaders = new Map<string, JwtHeader>();

function checkedHeader(headerB64: string): JwtHeader {
  const known = checkedHeaders.get(headerB64);
  if (known) return known;
  if (!BASE64URL.test(headerB64)) throw new VerifyError('malformed', 'token segments must be base64url');
  const header = Object.freeze(decodeJson(headerB64, 'header')) as JwtHeader;
  checkHeader(header);
  if (checkedHeaders.size >= HEADER_CACHE_SIZE) checkedHeaders.clear();
  checkedHeaders.set(headerB64, header);
  return header;
}

function decodeJson(segment: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new VerifyError('malformed', `token ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new VerifyError('malformed', `token ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function checkHeader(header: JwtHeader): void {
  // Exact match: "none", "None", "HS256" and every other value are refused.
  if (header.alg !== 'RS256') throw new VerifyError('unsupported_alg', 'only RS256 is accepted');
  // RFC 9068 §4: typ must be at+jwt (the media-type form is also allowed); this is what
  // keeps an ID token or any other JWT from the same issuer from passing as an access token.
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase() : undefined;
  if (typ !== 'at+jwt' && typ !== 'application/at+jwt') {
    throw new VerifyError('invalid_type', 'typ must be at+jwt');
  }
  for (const name of FORBIDDEN_HEADERS) {
    if (name in header) throw new VerifyError('forbidden_header', `header parameter "${name}" is not accepted`);
  }
  if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 128) {
    throw new VerifyError('malformed', 'kid must be a short string');
  }
}

export function verifySignature(parsed: ParsedJwt, key: crypto.KeyObject): void {
  // A 2048-bit RSA signature is 256 bytes; reject anything else before the RSA work.
  if (parsed.signature.length !== (key.asymmetricKeyDetails?.modulusLength ?? 2048) / 8) {
    throw new VerifyError('invalid_signature', 'signature has the wrong length');
  }
  const ok = crypto.verify('RSA-SHA256', Buffer.from(parsed.signingInput), key, parsed.signature);
  if (!ok) throw new VerifyError('invalid_signature', 'signature does not verify');
}

export interface ClaimCheckOptions {
  issuer: string;
  audience: string | string[];
  /** Seconds since the epoch. */
  now: number;
  /** Allowed clock skew in seconds. */
  clockTolerance: number;
  /** Longest accepted `exp - iat`, seconds; unset: no bound. */
  maxLifetime?: number;
}

export function checkClaims(payload: Record<string, unknown>, options: ClaimCheckOptions): AccessTokenClaims {
  const { now, clockTolerance: skew } = options;
  for (const name of ['iss', 'sub', 'jti', 'client_id', 'sid'] as const) {
    if (typeof payload[name] !== 'string' || (payload[name] as string).length === 0) {
      throw new VerifyError('missing_claim', `claim "${name}" is missing`);
    }
  }
  for (const name of ['exp', 'iat'] as const) {
    if (typeof payload[name] !== 'number' || !Number.isFinite(payload[name])) {
      throw new VerifyError('missing_claim', `claim "${name}" is missing`);
    }
  }
  if (payload.iss !== options.issuer) throw new VerifyError('invalid_issuer', 'unexpected issuer');
  if (!audienceMatches(payload.aud, options.audience)) throw new VerifyError('invalid_audience', 'unexpected audience');
  if ((payload.exp as number) <= now - skew) throw new VerifyError('expired', 'token has expired');
  if ((payload.iat as number) > now + skew) throw new VerifyError('not_yet_valid', 'token was issued in the future');
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > now + skew)) {
    throw new VerifyError('not_yet_valid', 'token is not valid yet');
  }
  if (options.maxLifetime !== undefined && (payload.exp as number) - (payload.iat as number) > options.maxLifetime) {
    throw new VerifyError('lifetime_too_long', `token lives longer than ${options.maxLifetime} s (exp - iat)`);
  }
  return payload as AccessTokenClaims;
}

function audienceMatches(aud: unknown, expected: string | string[]): boolean {
  const wanted = Array.isArray(expected) ? expected : [expected];
  if (typeof aud === 'string') return wanted.includes(aud);
  if (Array.isArray(aud)) return aud.some((a) => typeof a === 'string' && wanted.includes(a));
  return false;
}
