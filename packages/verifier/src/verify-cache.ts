// Remembers tokens that already passed signature and claim checks, so a token presented
// again skips the RSA work. Keyed by the whole token string: a hit needs the exact bytes
// that were verified. An entry is never served at or after the token's `exp`; revocation
// is not cached (the caller checks the denylist on every hit).
//
// Each entry remembers the key object that verified it. A hit counts only while the key set
// still maps the token's `kid` to that very object, and entries whose key left the set are
// dropped when a new set arrives: a token signed with a withdrawn key (a compromised one,
// say) must not stay valid from the cache until an `exp` its signer chose.
import type crypto from 'node:crypto';
import type { AccessTokenClaims } from './jwt.js';

export interface VerifiedEntry {
  claims: AccessTokenClaims;
  kid: string;
  key: crypto.KeyObject;
}

export class VerifyCache {
  // A Map iterates in insertion order; re-inserting on a hit makes the first key the least
  // recently used one, which is what gets evicted.
  private readonly entries = new Map<string, VerifiedEntry>();

  constructor(private readonly maxEntries: number) {}

  /**
   * The cached claims, or undefined when absent, expired (`nowSeconds` >= exp) or verified
   * by a key that is no longer `currentKey(kid)`; such an entry is dropped.
   */
  get(token: string, nowSeconds: number, currentKey: (kid: string) => crypto.KeyObject | undefined): AccessTokenClaims | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    this.entries.delete(token);
    if (nowSeconds >= entry.claims.exp || currentKey(entry.kid) !== entry.key) return undefined;
    this.entries.set(token, entry);
    return entry.claims;
  }

  set(token: string, entry: VerifiedEntry, nowSeconds: number): void {
    if (nowSeconds >= entry.claims.exp) return;
    this.entries.delete(token);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(token, entry);
  }

  /** Drops every entry whose key is not the one `keys` now holds for its kid (a new key set arrived). */
  retainKeys(keys: ReadonlyMap<string, crypto.KeyObject>): void {
    for (const [token, entry] of this.entries) {
      if (keys.get(entry.kid) !== entry.key) this.entries.delete(token);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }
}
