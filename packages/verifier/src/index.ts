// @tessera/verifier: check Tessera access tokens inside any Node service, with no call to
// Tessera on the hot path. Depends on node built-ins only (ioredis when revocation goes
// through Redis) and never on the server's modules, so it can be published on its own.
import { DenylistMirror } from './denylist-mirror.js';
import { VerifyError } from './errors.js';
import { JwksCache } from './jwks.js';
import { checkClaims, DEFAULT_MAX_TOKEN_LENGTH, parseAccessToken, verifySignature, type AccessTokenClaims } from './jwt.js';
import { VerifyCache } from './verify-cache.js';

export { DenylistMirror } from './denylist-mirror.js';
export type { DenylistEntry, RevocationSubject } from './denylist-mirror.js';
export { VerifyError, type VerifyErrorCode } from './errors.js';
export type { AccessTokenClaims } from './jwt.js';
export {
  checkRequirements,
  DEFAULT_MFA_ACR,
  SECOND_FACTOR_METHODS,
  stepUpChallenge,
  validateRequirements,
  type AuthRequirements,
  type RequirementFailure,
} from './requirements.js';
/**
 * The building blocks of `verify()`, for a caller that holds its keys itself (Tessera's own
 * server does): parse and bound a compact JWS, check an RS256 signature with a
 * `node:crypto` key, check the RFC 9068 claims. Most services want {@link createVerifier}.
 */
export { checkClaims, parseAccessToken, verifySignature, type ClaimCheckOptions, type JwtHeader, type ParsedJwt } from './jwt.js';

/** Revocation from Tessera's Redis denylist (needs `ioredis`), or from a mirror you keep up to date. */
export type RevocationOptions =
  | {
      /** `redis://` or `rediss://` URL of the Redis that Tessera writes its denylist to. */
      redisUrl: string;
      /** Tessera's `REDIS_KEY_PREFIX`. Default `tessera:`. */
      keyPrefix?: string;
      /** How long verify() waits for the first denylist load before failing. Default 5000. */
      readyTimeoutMs?: number;
    }
  | { mirror: DenylistMirror };

export interface VerifierOptions {
  /** Expected `iss`, exactly as Tessera's `ISSUER` (e.g. `https://auth.example.com`). */
  issuer: string;
  /** Expected `aud` (Tessera's `AUDIENCE`); a token must name at least one of them. */
  audience: string | string[];
  /** Where the public keys are published. Default `${issuer}/.well-known/jwks.json`. */
  jwksUri?: string;
  /** Allowed clock skew for `exp`, `iat` and `nbf`, in seconds. Default 5. */
  clockTolerance?: number;
  /** Longer tokens are refused before any parsing. Default 8192. */
  maxTokenLength?: number;
  /** Remember verified tokens (bounded, never past `exp`, revocation still checked). `true` means `{ maxEntries: 1000 }`. */
  cache?: boolean | { maxEntries?: number };
  /** Honour revocations (logout, password change). Off by default. */
  revocation?: RevocationOptions;
  /** Minimum time between JWKS fetches caused by an unknown `kid`. Default 30000. */
  jwksCooldownMs?: number;
  /** Longest time a fetched JWKS is used before a background refresh; a shorter Cache-Control max-age wins. Default 600000. */
  jwksMaxAgeMs?: number;
  /** Timeout of one JWKS request. Default 5000. */
  jwksTimeoutMs?: number;
  /** Replaces the global fetch for JWKS requests (tests, proxies). */
  fetch?: typeof globalThis.fetch;
  /** Clock in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Told about failures that verify() does not throw: background JWKS refreshes, revocation sync. */
  onError?: (error: Error) => void;
}

export interface Verifier {
  /** Resolves with the token's claims (frozen), or rejects with a {@link VerifyError}. */
  verify(token: string): Promise<AccessTokenClaims>;
  /** Fetches the JWKS now, e.g. at start-up or after a key-compromise alert. Rejects with `jwks_unavailable`. */
  refreshKeys(): Promise<void>;
  /** Stops the Redis subscription and empties the verify cache. */
  close(): Promise<void>;
}

interface RedisSync {
  ready: Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_CACHE_ENTRIES = 1000;
const OPTION_NAMES = new Set([
  'issuer', 'audience', 'jwksUri', 'clockTolerance', 'maxTokenLength', 'cache', 'revocation',
  'jwksCooldownMs', 'jwksMaxAgeMs', 'jwksTimeoutMs', 'fetch', 'now', 'onError',
]);

/**
 * Validates `options` once (throwing a `TypeError` that names the bad option) and returns a
 * verifier. `verify(token)` accepts only RS256 tokens with `typ: at+jwt` signed by a key from
 * the issuer's JWKS, checks `iss`, `aud`, `exp`, `iat` and `nbf`, and — when `revocation` is
 * set — the denylist. When the token's key is already cached, it does no I/O at all.
 *
 * @example
 * ```ts
 * import { createVerifier, VerifyError } from '@tessera/verifier';
 *
 * const verifier = createVerifier({
 *   issuer: 'https://auth.example.com',
 *   audience: 'tessera',
 *   cache: { maxEntries: 10_000 },
 *   revocation: { redisUrl: 'redis://redis:6379', keyPrefix: 'tessera:' },
 * });
 *
 * try {
 *   const claims = await verifier.verify(token);
 *   console.log(claims.sub, claims.sid);
 * } catch (err) {
 *   if (err instanceof VerifyError) console.log(err.code); // 'expired', 'revoked', ...
 *   else throw err;
 * }
 * ```
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const o = validateOptions(options);
  const now = o.now;
  const jwks = new JwksCache({
    uri: o.jwksUri,
    fetch: o.fetch,
    now,
    cooldownMs: o.jwksCooldownMs,
    maxAgeMs: o.jwksMaxAgeMs,
    timeoutMs: o.jwksTimeoutMs,
    onError: o.onError,
  });
  const cache = o.cacheEntries > 0 ? new VerifyCache(o.cacheEntries) : undefined;
  const claimOptions = { issuer: o.issuer, audience: o.audience, now: 0, clockTolerance: o.clockTolerance };
  const revocation = o.revocation;
  const redisMirror = revocation && 'redisUrl' in revocation ? new DenylistMirror() : undefined;
  const mirror = revocation && 'mirror' in revocation ? revocation.mirror : redisMirror;
  let closed = false;

  // Redis revocation: ioredis is loaded only when asked for. Until the first full load of the
  // denylist, verify() waits for it (at most readyTimeoutMs) and then refuses: a verifier that
  // was told to honour revocations must not let a revoked token through during start-up.
  let sync: Promise<RedisSync> | undefined;
  let waitForDenylist: (() => Promise<void>) | undefined;
  if (revocation && 'redisUrl' in revocation && redisMirror) {
    let deadline = now() + (revocation.readyTimeoutMs ?? 5_000);
    let loaded = false;
    sync = import('./redis-sync.js').then(({ syncDenylistFromRedis }) =>
      syncDenylistFromRedis({
        redis: revocation.redisUrl,
        keyPrefix: revocation.keyPrefix ?? 'tessera:',
        mirror: redisMirror,
        now,
        // Degraded: Redis is unreachable and revocations made meanwhile are not seen yet.
        onChange: (status) => {
          if (status === 'degraded') o.onError(new Error('revocation denylist sync is degraded (Redis unreachable)'));
        },
      }),
    );
    const ready = sync.then((s) => s.ready);
    ready.then(
      () => {
        loaded = true;
        waitForDenylist = undefined;
      },
      (err: unknown) => {
        // ioredis missing, or closed before the first load: no point in waiting any longer.
        deadline = 0;
        if (!closed) o.onError(err instanceof Error ? err : new Error(String(err)));
      },
    );
    waitForDenylist = async () => {
      const remaining = deadline - now();
      if (remaining > 0) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, remaining)));
        await Promise.race([ready.catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
      }
      if (!loaded) throw new VerifyError('revocation_unavailable', 'the revocation denylist is not loaded');
    };
  }

  async function verify(token: string): Promise<AccessTokenClaims> {
    if (closed) throw new Error('this verifier has been closed');
    if (waitForDenylist) await waitForDenylist();
    const nowMs = now();
    const nowSeconds = Math.floor(nowMs / 1000);
    let claims = cache && typeof token === 'string' && token.length <= o.maxTokenLength ? cache.get(token, nowSeconds) : undefined;
    if (claims === undefined) {
      const parsed = parseAccessToken(token, o.maxTokenLength);
      const key = jwks.cached(parsed.kid) ?? (await jwks.resolve(parsed.kid));
      verifySignature(parsed, key);
      claimOptions.now = nowSeconds;
      // Frozen: with the cache on, every caller of the same token shares this object.
      claims = Object.freeze(checkClaims(parsed.payload, claimOptions));
      cache?.set(token, claims, nowSeconds);
    }
    if (mirror?.isRevoked(claims, nowMs)) throw new VerifyError('revoked', 'the token has been revoked');
    return claims;
  }

  return {
    verify,
    refreshKeys: () => jwks.refresh(),
    async close() {
      closed = true;
      cache?.clear();
      waitForDenylist = undefined;
      if (sync) await (await sync.catch(() => undefined))?.close();
    },
  };
}

interface ValidOptions {
  issuer: string;
  audience: string | string[];
  jwksUri: string;
  clockTolerance: number;
  maxTokenLength: number;
  cacheEntries: number;
  revocation: RevocationOptions | undefined;
  jwksCooldownMs: number;
  jwksMaxAgeMs: number;
  jwksTimeoutMs: number;
  fetch: typeof globalThis.fetch;
  now: () => number;
  onError: (error: Error) => void;
}

function bad(name: string, expected: string): never {
  throw new TypeError(`createVerifier: option "${name}" must be ${expected}`);
}

function nonNegative(value: unknown, name: string, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    bad(name, integer ? 'a non-negative integer' : 'a non-negative finite number');
  }
  return value;
}

function httpUrl(value: string, name: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return bad(name, 'an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') bad(name, 'an absolute http(s) URL');
  return value;
}

function validateOptions(options: VerifierOptions): ValidOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('createVerifier: options must be an object');
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) throw new TypeError(`createVerifier: unknown option "${name}"`);
  }
  const { issuer, audience, cache, revocation } = options;
  if (typeof issuer !== 'string' || issuer.length === 0) bad('issuer', 'a non-empty string');
  const audienceOk = typeof audience === 'string'
    ? audience.length > 0
    : Array.isArray(audience) && audience.length > 0 && audience.every((a) => typeof a === 'string' && a.length > 0);
  if (!audienceOk) bad('audience', 'a non-empty string or a non-empty array of them');
  if (options.jwksUri !== undefined && typeof options.jwksUri !== 'string') bad('jwksUri', 'a string');
  const jwksUri = options.jwksUri === undefined
    ? httpUrl(`${issuer.replace(/\/+$/, '')}/.well-known/jwks.json`, 'issuer')
    : httpUrl(options.jwksUri, 'jwksUri');

  let cacheEntries = 0;
  if (cache === true) cacheEntries = DEFAULT_CACHE_ENTRIES;
  else if (typeof cache === 'object' && cache !== null) {
    cacheEntries = nonNegative(cache.maxEntries, 'cache.maxEntries', DEFAULT_CACHE_ENTRIES, true);
    if (cacheEntries < 1) bad('cache.maxEntries', 'at least 1');
  } else if (cache !== undefined && cache !== false) bad('cache', 'a boolean or { maxEntries }');

  if (revocation !== undefined) {
    if (typeof revocation !== 'object' || revocation === null) bad('revocation', '{ redisUrl } or { mirror }');
    if ('mirror' in revocation) {
      if (!(revocation.mirror instanceof DenylistMirror)) bad('revocation.mirror', 'a DenylistMirror');
    } else if ('redisUrl' in revocation) {
      if (typeof revocation.redisUrl !== 'string' || !/^rediss?:\/\/./.test(revocation.redisUrl)) {
        bad('revocation.redisUrl', 'a redis:// or rediss:// URL');
      }
      if (revocation.keyPrefix !== undefined && typeof revocation.keyPrefix !== 'string') bad('revocation.keyPrefix', 'a string');
      nonNegative(revocation.readyTimeoutMs, 'revocation.readyTimeoutMs', 0);
    } else bad('revocation', '{ redisUrl } or { mirror }');
  }
  for (const name of ['fetch', 'now', 'onError'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') bad(name, 'a function');
  }
  const maxTokenLength = nonNegative(options.maxTokenLength, 'maxTokenLength', DEFAULT_MAX_TOKEN_LENGTH, true);
  if (maxTokenLength < 1) bad('maxTokenLength', 'at least 1');
  return {
    issuer,
    audience: Array.isArray(audience) ? [...audience] : audience,
    jwksUri,
    clockTolerance: nonNegative(options.clockTolerance, 'clockTolerance', 5),
    maxTokenLength,
    cacheEntries,
    revocation,
    jwksCooldownMs: nonNegative(options.jwksCooldownMs, 'jwksCooldownMs', 30_000),
    jwksMaxAgeMs: nonNegative(options.jwksMaxAgeMs, 'jwksMaxAgeMs', 600_000),
    jwksTimeoutMs: nonNegative(options.jwksTimeoutMs, 'jwksTimeoutMs', 5_000),
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    now: options.now ?? Date.now,
    onError: options.onError ?? (() => undefined),
  };
}
