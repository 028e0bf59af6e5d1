// @tessera/verifier: check Tessera access tokens inside any Node service, with no call to
// Tessera on the hot path. Depends on node built-ins only (ioredis when revocation goes
// through Redis; the revocation feed needs nothing but fetch) and never on the server's
// modules, so it can be published on its own.
import { DenylistMirror } from './denylist-mirror.js';
import { VerifyError } from './errors.js';
import { syncDenylistFromFeed } from './feed-sync.js';
import { JwksCache } from './jwks.js';
import { checkClaims, parseAccessToken, verifySignature, type AccessTokenClaims } from './jwt.js';
import { validateOptions, type VerifierOptions } from './options.js';
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
export type { FeedRevocationOptions, RedisClusterConnection, RedisSentinelConnection, RedisTlsOptions, RevocationOptions, VerifierOptions } from './options.js';
export { DEFAULT_ACCESS_TOKEN_TTL_SECONDS, DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, MAX_CLOCK_SKEW_SECONDS } from './limits.js';
/**
 * The building blocks of `verify()`, for a caller that holds its keys itself (Tessera's own
 * server does): parse and bound a compact JWS, check an RS256 signature with a
 * `node:crypto` key, check the RFC 9068 claims. Most services want {@link createVerifier}.
 */
export { checkClaims, parseAccessToken, verifySignature, type ClaimCheckOptions, type JwtHeader, type ParsedJwt } from './jwt.js';

export interface Verifier {
  /** Resolves with the token's claims (frozen), or rejects with a {@link VerifyError}. */
  verify(token: string): Promise<AccessTokenClaims>;
  /**
   * Fetches the JWKS now, e.g. at start-up or after a key-compromise alert: cached
   * verifications of tokens whose key is no longer published are dropped with it. Rejects
   * with `jwks_unavailable`.
   */
  refreshKeys(): Promise<void>;
  /**
   * `'degraded'` while revocations may be missing: the feed or Redis is disconnected, or the
   * first load has not completed (what a readiness probe should look at). Always `'ok'`
   * without `revocation` or with your own `mirror`.
   */
  status(): VerifierStatus;
  /** Stops the revocation sync (feed stream or Redis subscription) and empties the verify cache. */
  close(): Promise<void>;
}

export type VerifierStatus = 'ok' | 'degraded';

/** The feed or Redis sync behind `revocation`, whichever was configured. */
interface RevocationSync {
  ready: Promise<void>;
  status(): VerifierStatus;
  close(): Promise<void>;
}

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
 *   revocation: { feedUrl: 'https://auth.example.com/revocations/stream', clientId: 'billing', clientSecret },
 *   onError: (err) => console.warn(err.message), // e.g. the feed is unreachable: revocations are stale
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
  const cache = o.cacheEntries > 0 ? new VerifyCache(o.cacheEntries) : undefined;
  const jwks = new JwksCache({
    uri: o.jwksUri,
    fetch: o.fetch,
    now,
    cooldownMs: o.jwksCooldownMs,
    maxAgeMs: o.jwksMaxAgeMs,
    timeoutMs: o.jwksTimeoutMs,
    onError: o.onError,
    // A key that left the set takes its cached verifications with it.
    onKeys: (keys) => cache?.retainKeys(keys),
  });
  const currentKey = (kid: string) => jwks.cached(kid);
  const claimOptions = {
    issuer: o.issuer,
    audience: o.audience,
    now: 0,
    clockTolerance: o.clockTolerance,
    maxLifetime: o.maxTokenLifetime,
  };
  const revocation = o.revocation;
  const ownMirror = revocation && !('mirror' in revocation) ? new DenylistMirror() : undefined;
  const mirror = revocation && 'mirror' in revocation ? revocation.mirror : ownMirror;
  let closed = false;

  // Feed or Redis revocation. Until the first full load of the denylist, verify() waits for
  // it (at most readyTimeoutMs) and then refuses: a verifier that was told to honour
  // revocations must not let a revoked token through during start-up.
  let sync: Promise<RevocationSync> | undefined;
  let syncNow: RevocationSync | undefined;
  let waitForDenylist: (() => Promise<void>) | undefined;
  if (revocation && ownMirror && !('mirror' in revocation)) {
    const readyTimeoutMs = revocation.readyTimeoutMs ?? 5_000;
    let deadline = now() + readyTimeoutMs;
    let loaded = false;
    // Why the denylist is not there, for whoever logs the 503 (the Fastify plugin does).
    let failure: Error;
    if ('feedUrl' in revocation) {
      failure = new Error(`the revocation feed did not deliver its first snapshot within ${readyTimeoutMs} ms`);
      sync = Promise.resolve(
        syncDenylistFromFeed({
          feedUrl: revocation.feedUrl,
          clientId: revocation.clientId,
          clientSecret: revocation.clientSecret,
          ...(revocation.heartbeatTimeoutMs !== undefined ? { heartbeatTimeoutMs: revocation.heartbeatTimeoutMs } : {}),
          ...(revocation.maxRetryMs !== undefined ? { maxRetryMs: revocation.maxRetryMs } : {}),
          mirror: ownMirror,
          fetch: o.fetch,
          now,
          // Every failure leaves the mirror stale until the reconnect: tell whoever runs the service.
          onError: (err) => {
            if (!loaded) failure = err;
            o.onError(err);
          },
        }),
      );
    } else {
      failure = new Error(`Redis did not complete the first denylist load within ${readyTimeoutMs} ms`);
      // ioredis is loaded only when asked for.
      sync = import('./redis.js').then(({ syncDenylistFromRedis, sentinelRedisOptions }) =>
        syncDenylistFromRedis({
          redis:
            'redisUrl' in revocation
              ? revocation.redisUrl
              : 'redisSentinel' in revocation
                ? sentinelRedisOptions(revocation.redisSentinel)
                : { cluster: revocation.redisCluster },
          keyPrefix: revocation.keyPrefix ?? 'tessera:',
          mirror: ownMirror,
          now,
          // Degraded: Redis is unreachable and revocations made meanwhile are not seen yet.
          onChange: (status) => {
            if (status === 'degraded') o.onError(new Error('revocation denylist sync is degraded (Redis unreachable)'));
          },
        }),
      );
    }
    void sync.then((s) => (syncNow = s), () => undefined);
    const ready = sync.then((s) => s.ready);
    ready.then(
      () => {
        loaded = true;
        waitForDenylist = undefined;
      },
      (err: unknown) => {
        // ioredis missing, or closed before the first load: no point in waiting any longer.
        deadline = 0;
        failure = err instanceof Error ? err : new Error(String(err));
        if (!closed) o.onError(failure);
      },
    );
    waitForDenylist = async () => {
      const remaining = deadline - now();
      if (remaining > 0) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, remaining)));
        await Promise.race([ready.catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
      }
      if (!loaded) {
        throw Object.assign(new VerifyError('revocation_unavailable', 'the revocation denylist is not loaded'), { cause: failure });
      }
    };
  }

  async function verify(token: string): Promise<AccessTokenClaims> {
    if (closed) throw new Error('this verifier has been closed');
    if (waitForDenylist) await waitForDenylist();
    const nowMs = now();
    const nowSeconds = Math.floor(nowMs / 1000);
    let claims =
      cache && typeof token === 'string' && token.length <= o.maxTokenLength ? cache.get(token, nowSeconds, currentKey) : undefined;
    if (claims === undefined) {
      const parsed = parseAccessToken(token, o.maxTokenLength);
      const key = jwks.cached(parsed.kid) ?? (await jwks.resolve(parsed.kid));
      verifySignature(parsed, key);
      claimOptions.now = nowSeconds;
      // Frozen: with the cache on, every caller of the same token shares this object.
      claims = Object.freeze(checkClaims(parsed.payload, claimOptions));
      cache?.set(token, { claims, kid: parsed.kid, key }, nowSeconds);
    }
    if (mirror?.isRevoked(claims, nowMs)) throw new VerifyError('revoked', 'the token has been revoked');
    return claims;
  }

  return {
    verify,
    refreshKeys: () => jwks.refresh(),
    status: () => (closed || (sync && (!syncNow || syncNow.status() !== 'ok')) ? 'degraded' : 'ok'),
    async close() {
      closed = true;
      cache?.clear();
      waitForDenylist = undefined;
      if (sync) await (await sync.catch(() => undefined))?.close();
    },
  };
}
