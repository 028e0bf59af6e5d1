// Client credentials for the admin API: the ADMIN_CLIENTS list (`id:secret,…`, the form of
// INTROSPECTION_CLIENTS), HTTP Basic (RFC 7617, with RFC 6749 §2.3.1's form-encoding of id
// and secret), a constant-time secret check, a back-off on failures per client address and
// list of secrets, and a `client.auth_failed` audit line: one module for every
// client-authenticated endpoint (admin, /oauth/introspect and /oauth/revoke, the feed).
import crypto from 'node:crypto';
import type { RequestContext } from '../request-context.ts';
import { AuthError } from '../errors.ts';
import type { LoginThrottle } from '../throttle/login-throttle.ts';

// The client lists themselves (their syntax, the config schemas) are client-list.ts: a leaf,
// so config.ts can take them without importing this module's throttle and its config.

/** The id and secret of an `Authorization: Basic` header; undefined when absent or malformed. */
export function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header ?? '');
  const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/** Compares fixed-length digests, so the time taken says nothing about the secret's length or prefix. */
export function secretMatches(expected: string | undefined, given: string): boolean {
  const digest = (s: string) => crypto.createHash('sha256').update(s).digest();
  // An unknown id costs the same comparison as a known one.
  const ok = crypto.timingSafeEqual(digest(expected ?? crypto.randomBytes(16).toString('hex')), digest(given));
  return ok && expected !== undefined;
}

export interface ClientAuthenticatorOptions {
  /** Names the endpoint family in the audit line: `admin`, `oauth`, `revocations`. */
  realm: string;
  /**
   * Names the list of secrets (`admin`: ADMIN_CLIENTS, `introspection`: INTROSPECTION_CLIENTS):
   * one back-off per list and address, so a secret tried on /oauth/* and on the feed spends
   * one budget, not one per route.
   */
  budget: string;
  /** The secret of a client id, or undefined. */
  clients: Map<string, string> | ((id: string) => string | undefined);
  throttle: LoginThrottle | undefined;
  audit: (fields: { client_id: string | null; reason: string }, ctx: RequestContext) => void;
}

/**
 * Returns the check to run first on every request of a client-authenticated endpoint: the
 * client's id, or 401 `invalid_client` (audited, counted toward the address's back-off),
 * or 429 `rate_limited` while that back-off lasts, whatever the credentials.
 *
 * The secret is compared first (in constant time, in this process: nothing leaves it) and
 * the throttle then decides in one atomic step whether the outcome may be told, counting a
 * failure in that same step. Checking the window before comparing and counting afterwards
 * (as before) let a burst of parallel guesses all pass the check before any was counted.
 * Counting before comparing would close that too, but would also count every right secret
 * in flight, so a tool sending more than the budget's worth of requests at once would be
 * backed off by its own successes; this way the guarantee is the same (at most the budget
 * of guesses answered, a right one in a burst refused once it is spent) and successes
 * never count.
 */
export function createClientAuthenticator(options: ClientAuthenticatorOptions) {
  const { budget, clients, throttle, audit } = options;
  const secretOf = typeof clients === 'function' ? clients : (id: string) => clients.get(id);
  return async function authenticateClient(authorization: string | undefined, ctx: RequestContext): Promise<string> {
    const credentials = basicCredentials(authorization);
    const matched = credentials !== undefined && secretMatches(secretOf(credentials.id), credentials.secret);
    try {
      // Requests without any credentials are not guesses: checked against the window, not counted.
      await throttle?.clientAuth(budget, ctx.ip, !matched && authorization !== undefined);
    } catch (err) {
      audit({ client_id: credentials?.id ?? null, reason: 'rate_limited' }, ctx);
      throw err;
    }
    if (matched) return credentials.id;
    const reason = authorization === undefined ? 'missing' : credentials ? 'wrong_credentials' : 'malformed';
    audit({ client_id: credentials?.id ?? null, reason }, ctx);
    throw new AuthError('invalid_client', authorization === undefined ? 'Client authentication (HTTP Basic) is required' : 'Client authentication failed');
  };
}
