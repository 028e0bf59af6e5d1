import type { DenylistEntry, RevocationSubject } from '@tessera/verifier';
import type { RevocationLog } from './feed.ts';

export type { DenylistEntry, RevocationSubject };

export type DenylistStatus = 'ok' | 'degraded';

/**
 * Revoked sessions, tokens and per-user cut-offs. Writes go to the shared store and fan
 * out to every replica; reads are answered from this replica's in-memory mirror.
 */
export interface Denylist {
  /** Resolves once the revocation is durable in the shared store (or throws). */
  revoke(entry: DenylistEntry): Promise<void>;
  /** Synchronous: answered from the local mirror, never a network call. */
  isRevoked(subject: RevocationSubject): boolean;
  status(): DenylistStatus;
  size(): number;
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * For metrics: calls `listener` with the milliseconds between an entry's publication by
   * some replica and its application to this replica's mirror. Only a shared (Redis)
   * denylist has a lag to report. Returns the unsubscribe function.
   */
  observeMirrorLag?(listener: (lagMs: number) => void): () => void;
  /** The log behind GET /revocations and /revocations/stream; absent, those answer 503. */
  readonly feed?: RevocationLog;
  /** Applies entries already durable elsewhere (seeding from SQL) to this replica only, when the store can tell them apart. */
  restore?(entries: DenylistEntry[]): void;
}
