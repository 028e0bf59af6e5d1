// Remembers tokens that already passed signature and claim checks, so a token presented
// again skips the RSA work. Keyed by the whole token string: a hit needs the exact bytes
// that were verified. An entry is never served at or after the token's `exp`; revocation
// is not cached (the caller checks the denylist on every hit).
import type { AccessTokenClaims } from './jwt.js';

export class VerifyCache {
  // A Map iterates in insertion order; re-inserting on a hit makes the first key the least
  // recently used one, which is what gets evicted.
  private readonly entries = new Map<string, AccessTokenClaims>();

  constructor(private readonly maxEntries: number) {}

  /** Cached claims, or undefined when absent or expired (`nowSeconds` >= exp). */
  get(token: string, nowSeconds: number): AccessTokenClaims | undefined {
    const claims = this.entries.get(token);
    if (claims === undefined) return undefined;
    this.entries.delete(token);
    if (nowSeconds >= claims.exp) return undefined;
    this.entries.set(token, claims);
    return claims;
  }

  set(token: string, claims: AccessTokenClaims, nowSeconds: number): void {
    if (nowSeconds >= claims.exp) return;
    this.entries.delete(token);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(token, claims);
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}
