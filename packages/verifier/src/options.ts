// createVerifier's options: their types, defaults and the one-time validation that names
// the bad option in a TypeError.
import { DenylistMirror } from './denylist-mirror.js';
import { DEFAULT_MAX_TOKEN_LENGTH } from './jwt.js';
import { DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, MAX_CLOCK_SKEW_SECONDS } from './limits.js';
import { bad, nonNegative } from './option-checks.js';
import { validateCluster, validateSentinel, type RedisClusterConnection, type RedisSentinelConnection } from './redis-options.js';

export type { RedisClusterConnection, RedisSentinelConnection, RedisTlsOptions } from './redis-options.js';

interface RedisRevocationSettings {
  /** Tessera's `REDIS_KEY_PREFIX`. Default `tessera:`. */
  keyPrefix?: string;
  /** How long verify() waits for the first denylist load before failing. Default 5000. */
  readyTimeoutMs?: number;
}

/** Revocation from Tessera's revocation feed, from its Redis denylist (needs `ioredis`), or from a mirror you keep up to date. */
export type RevocationOptions =
  | FeedRevocationOptions
  | ({
      /** `redis://` or `rediss://` URL of the Redis that Tessera writes its denylist to. */
      redisUrl: string;
    } & RedisRevocationSettings)
  | ({
      /** Tessera's Redis behind Sentinel (instead of `redisUrl`). */
      redisSentinel: RedisSentinelConnection;
    } & RedisRevocationSettings)
  | ({
      /** Tessera's Redis Cluster (instead of `redisUrl`). */
      redisCluster: RedisClusterConnection;
    } & RedisRevocationSettings)
  | { mirror: DenylistMirror };

/** Revocation through Tessera's feed (`GET /revocations/stream`): HTTP only, no Redis, no dependency. */
export interface FeedRevocationOptions {
  /** The stream's URL, e.g. `https://auth.example.com/revocations/stream`. */
  feedUrl: string;
  /** A client of Tessera's INTROSPECTION_CLIENTS with the `revocations` permission (`id:secret:revocations`). */
  clientId: string;
  clientSecret: string;
  /** How long verify() waits for the first snapshot before failing. Default 5000. */
  readyTimeoutMs?: number;
  /** Silence (no event, no heartbeat) after which the connection is reopened. Default 45000: 3 of Tessera's 15 s heartbeats. */
  heartbeatTimeoutMs?: number;
  /** Longest wait between reconnection attempts. Default 30000. */
  maxRetryMs?: number;
}

export interface VerifierOptions {
  /** Expected `iss`, exactly as Tessera's `ISSUER` (e.g. `https://auth.example.com`). */
  issuer: string;
  /** Expected `aud` (Tessera's `AUDIENCE`); a token must name at least one of them. */
  audience: string | string[];
  /** Where the public keys are published. Default `${issuer}/.well-known/jwks.json`. */
  jwksUri?: string;
  /** Allowed clock skew for `exp`, `iat` and `nbf`, in seconds. Default 5; at most {@link MAX_CLOCK_SKEW_SECONDS} (60). */
  clockTolerance?: number;
  /**
   * Longest `exp - iat` accepted, in seconds. Default {@link DEFAULT_MAX_TOKEN_LIFETIME_SECONDS}
   * (Tessera's default `ACCESS_TOKEN_TTL` of 900 plus 60 s of skew): set it to your Tessera's
   * `ACCESS_TOKEN_TTL` + 60 if you changed that.
   */
  maxTokenLifetime?: number;
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
  /** Replaces the global fetch for JWKS and revocation feed requests (tests, proxies). */
  fetch?: typeof globalThis.fetch;
  /** Clock in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Told about failures that verify() does not throw: background JWKS refreshes, revocation sync (a stale mirror). */
  onError?: (error: Error) => void;
}

const DEFAULT_CACHE_ENTRIES = 1000;
const OPTION_NAMES = new Set([
  'issuer', 'audience', 'jwksUri', 'clockTolerance', 'maxTokenLifetime', 'maxTokenLength', 'cache', 'revocation',
  'jwksCooldownMs', 'jwksMaxAgeMs', 'jwksTimeoutMs', 'fetch', 'now', 'onError',
]);

export interface ValidOptions {
  issuer: string;
  audience: string | string[];
  jwksUri: string;
  clockTolerance: number;
  maxTokenLifetime: number;
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

const REVOCATION_SHAPES = '{ feedUrl, clientId, clientSecret }, { redisUrl }, { redisSentinel }, { redisCluster } or { mirror }';
const FEED_OPTIONS = new Set(['feedUrl', 'clientId', 'clientSecret', 'readyTimeoutMs', 'heartbeatTimeoutMs', 'maxRetryMs']);
const REDIS_OPTIONS = new Set(['redisUrl', 'redisSentinel', 'redisCluster', 'keyPrefix', 'readyTimeoutMs']);

function validateRevocation(revocation: RevocationOptions): void {
  if (typeof revocation !== 'object' || revocation === null) bad('revocation', REVOCATION_SHAPES);
  const ways = (['feedUrl', 'redisUrl', 'redisSentinel', 'redisCluster', 'mirror'] as const).filter((way) => way in revocation);
  if (ways.length > 1) {
    throw new TypeError(`createVerifier: option "revocation" takes one source of revocations, got ${ways.map((w) => `"${w}"`).join(' and ')}: use ${REVOCATION_SHAPES}`);
  }
  const only = (allowed: Set<string>, kind: string) => {
    for (const name of Object.keys(revocation)) {
      if (!allowed.has(name)) throw new TypeError(`createVerifier: unknown option "revocation.${name}" for revocation through ${kind}`);
    }
  };
  if ('mirror' in revocation) {
    if (!(revocation.mirror instanceof DenylistMirror)) bad('revocation.mirror', 'a DenylistMirror');
  } else if ('feedUrl' in revocation) {
    only(FEED_OPTIONS, 'the feed');
    if (typeof revocation.feedUrl !== 'string') bad('revocation.feedUrl', 'an absolute http(s) URL');
    httpUrl(revocation.feedUrl, 'revocation.feedUrl');
    const url = new URL(revocation.feedUrl);
    // fetch refuses such URLs, and credentials belong in clientId/clientSecret anyway.
    if (url.username !== '' || url.password !== '') bad('revocation.feedUrl', 'a URL without credentials (use clientId and clientSecret)');
    for (const name of ['clientId', 'clientSecret'] as const) {
      if (typeof revocation[name] !== 'string' || revocation[name].length === 0) bad(`revocation.${name}`, 'a non-empty string');
    }
    nonNegative(revocation.readyTimeoutMs, 'revocation.readyTimeoutMs', 0);
    if (nonNegative(revocation.heartbeatTimeoutMs, 'revocation.heartbeatTimeoutMs', 1) <= 0) bad('revocation.heartbeatTimeoutMs', 'a positive number');
    if (nonNegative(revocation.maxRetryMs, 'revocation.maxRetryMs', 1) <= 0) bad('revocation.maxRetryMs', 'a positive number');
  } else if ('redisUrl' in revocation || 'redisSentinel' in revocation || 'redisCluster' in revocation) {
    only(REDIS_OPTIONS, 'Redis');
    if ('redisUrl' in revocation) {
      if (typeof revocation.redisUrl !== 'string' || !/^rediss?:\/\/./.test(revocation.redisUrl)) {
        bad('revocation.redisUrl', 'a redis:// or rediss:// URL');
      }
    } else if ('redisSentinel' in revocation) validateSentinel(revocation.redisSentinel);
    else validateCluster(revocation.redisCluster, revocation.keyPrefix);
    if (revocation.keyPrefix !== undefined && typeof revocation.keyPrefix !== 'string') bad('revocation.keyPrefix', 'a string');
    nonNegative(revocation.readyTimeoutMs, 'revocation.readyTimeoutMs', 0);
  } else bad('revocation', REVOCATION_SHAPES);
}

export function validateOptions(options: VerifierOptions): ValidOptions {
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

  if (revocation !== undefined) validateRevocation(revocation);
  for (const name of ['fetch', 'now', 'onError'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') bad(name, 'a function');
  }
  const clockTolerance = nonNegative(options.clockTolerance, 'clockTolerance', 5);
  // A larger tolerance accepts a revoked token after its denylist entry expired (see limits.ts).
  if (clockTolerance > MAX_CLOCK_SKEW_SECONDS) bad('clockTolerance', `at most ${MAX_CLOCK_SKEW_SECONDS} (seconds)`);
  const maxTokenLifetime = nonNegative(options.maxTokenLifetime, 'maxTokenLifetime', DEFAULT_MAX_TOKEN_LIFETIME_SECONDS);
  if (maxTokenLifetime <= 0) bad('maxTokenLifetime', 'a positive number of seconds');
  const maxTokenLength = nonNegative(options.maxTokenLength, 'maxTokenLength', DEFAULT_MAX_TOKEN_LENGTH, true);
  if (maxTokenLength < 1) bad('maxTokenLength', 'at least 1');
  return {
    issuer,
    audience: Array.isArray(audience) ? [...audience] : audience,
    jwksUri,
    clockTolerance,
    maxTokenLifetime,
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
