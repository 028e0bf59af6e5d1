// The verifier's copy of the issuer's public keys. Keys are looked up synchronously on the
// hot path; the network is touched only on a cold start, when the set is stale (refreshed in
// the background while the old keys keep working) or for an unknown `kid` — and the last is
// rate-limited, so a flood of tokens with made-up kids costs the issuer one request per
// cooldown, not one per token.
import crypto from 'node:crypto';
import { VerifyError } from './errors.js';

export interface JwksCacheOptions {
  uri: string;
  fetch: typeof globalThis.fetch;
  now: () => number;
  /** Minimum time between fetches triggered by an unknown `kid`. */
  cooldownMs: number;
  /** Longest time a fetched set is used before a background refresh; Cache-Control max-age may shorten it. */
  maxAgeMs: number;
  timeoutMs: number;
  onError: (error: Error) => void;
  /** Told about every new key set, after it replaced the old one (the verify cache drops entries of keys that left). */
  onKeys?: (keys: ReadonlyMap<string, crypto.KeyObject>) => void;
}

/** Responses bigger than this are refused: a key set is a few KB. */
const MAX_JWKS_BYTES = 256 * 1024;
/** After a failed fetch, wait this long (or the cooldown, if shorter) before trying again. */
const FAILURE_BACKOFF_MS = 1_000;

export class JwksCache {
  private keys = new Map<string, crypto.KeyObject>();
  private loaded = false;
  private freshUntil = 0;
  private lastAttempt = -Infinity;
  private lastFailure = -Infinity;
  private lastError: Error | undefined;
  private inflight: Promise<void> | undefined;
  /** Network fetches started so far (for tests and metrics). */
  fetchCount = 0;

  constructor(private readonly options: JwksCacheOptions) {}

  /** The key for `kid` if it is already known, kicking off a background refresh when stale. */
  cached(kid: string): crypto.KeyObject | undefined {
    const key = this.keys.get(kid);
    if (key !== undefined && this.options.now() >= this.freshUntil) this.refreshInBackground();
    return key;
  }

  /** Resolves `kid`, fetching the set when that is allowed. Throws unknown_kid or jwks_unavailable. */
  async resolve(kid: string): Promise<crypto.KeyObject> {
    const known = this.cached(kid);
    if (known) return known;
    const now = this.options.now();
    if (this.inflight) {
      await this.inflight;
    } else if (!this.loaded || now - this.lastAttempt >= this.options.cooldownMs) {
      if (now - this.lastFailure < Math.min(FAILURE_BACKOFF_MS, this.options.cooldownMs)) {
        throw Object.assign(new VerifyError('jwks_unavailable', 'the key set could not be fetched'), { cause: this.lastError });
      }
      await this.refresh();
    }
    const key = this.keys.get(kid);
    if (!key) throw new VerifyError('unknown_kid', 'no published key has this kid');
    return key;
  }

  /** Fetches the set now (one fetch shared by concurrent callers). Throws jwks_unavailable. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchKeys().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  get size(): number {
    return this.keys.size;
  }

  private refreshInBackground(): void {
    if (this.inflight) return;
    if (this.options.now() - this.lastFailure < Math.min(FAILURE_BACKOFF_MS, this.options.cooldownMs)) return;
    // The old keys stay in use until the new set arrives; a failure is reported, not thrown.
    this.refresh().catch(() => undefined);
  }

  private async fetchKeys(): Promise<void> {
    const { uri, now, maxAgeMs, cooldownMs } = this.options;
    this.lastAttempt = now();
    this.fetchCount++;
    let keys: Map<string, crypto.KeyObject>;
    let maxAge: number | undefined;
    try {
      const res = await this.options.fetch(uri, {
        headers: { accept: 'application/jwk-set+json, application/json' },
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      if (!res.ok) {
        await res.body?.cancel().catch(() => undefined);
        throw new Error(`JWKS request to ${uri} answered ${res.status}`);
      }
      const text = await readCapped(res, MAX_JWKS_BYTES, uri);
      keys = keepUnchanged(importJwks(JSON.parse(text) as unknown, uri), this.keys);
      maxAge = parseMaxAge(res.headers.get('cache-control'));
    } catch (err) {
      this.lastFailure = now();
      const cause = err instanceof Error ? err : new Error(String(err));
      this.lastError = cause;
      this.options.onError(cause);
      throw Object.assign(new VerifyError('jwks_unavailable', 'the key set could not be fetched'), { cause });
    }
    this.keys = keys;
    this.loaded = true;
    this.options.onKeys?.(keys);
    // Honour a shorter max-age from the issuer, but never refresh more often than the cooldown.
    const freshFor = Math.max(cooldownMs, Math.min(maxAgeMs, maxAge ?? maxAgeMs));
    this.freshUntil = now() + freshFor;
  }
}

/**
 * The body as text, refused as soon as it is known to exceed `max` bytes: on a declared
 * Content-Length before reading anything, else while counting the bytes as they arrive. A
 * huge or endless answer never sits in memory (a key set is a few KB).
 */
async function readCapped(res: Response, max: number, uri: string): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '');
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`JWKS at ${uri} is larger than ${max} bytes (Content-Length: ${declared})`);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`JWKS at ${uri} is larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Keeps the key objects of keys that did not change, so that "verified by this key object"
 * (the verify cache's binding) survives a refresh that brought the same keys.
 */
function keepUnchanged(fresh: Map<string, crypto.KeyObject>, old: ReadonlyMap<string, crypto.KeyObject>): Map<string, crypto.KeyObject> {
  for (const [kid, key] of fresh) {
    const known = old.get(kid);
    if (known !== undefined && known.equals(key)) fresh.set(kid, known);
  }
  return fresh;
}

function parseMaxAge(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)/i.test(header)) return 0;
  const match = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(header);
  return match ? Number(match[1]) * 1000 : undefined;
}

/**
 * Imports the RSA signature keys of a JWK Set; every other key (EC, oct, encryption keys,
 * another alg, no kid, weaker than 2048 bits) is ignored rather than failing the whole set.
 */
export function importJwks(body: unknown, uri = 'the JWKS'): Map<string, crypto.KeyObject> {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { keys?: unknown }).keys)) {
    throw new Error(`${uri} is not a JWK Set (no "keys" array)`);
  }
  const keys = new Map<string, crypto.KeyObject>();
  for (const jwk of (body as { keys: unknown[] }).keys) {
    if (typeof jwk !== 'object' || jwk === null) continue;
    const { kty, kid, alg, use, key_ops: ops, n, e } = jwk as Record<string, unknown>;
    if (kty !== 'RSA' || typeof kid !== 'string' || kid.length === 0 || keys.has(kid)) continue;
    if (alg !== undefined && alg !== 'RS256') continue;
    if (use !== undefined && use !== 'sig') continue;
    if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) continue;
    if (typeof n !== 'string' || typeof e !== 'string') continue;
    try {
      // Only the public members are passed on: a JWKS that leaks "d" must not make us hold a private key.
      const key = crypto.createPublicKey({ key: { kty: 'RSA', n, e }, format: 'jwk' });
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) continue;
      keys.set(kid, key);
    } catch {
      // Not a valid RSA key: skip it like any other key we cannot use.
    }
  }
  return keys;
}
