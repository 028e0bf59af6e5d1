// How a revocation travels (SQL outbox → Redis → every mirror → the feed) is drawn in
// docs/architecture.md, "How a revocation travels".
import type { DenylistEntry, RevocationSubject } from '@tessera/verifier';
import type { Queryable } from '../db/db.ts';
import type { RevocationLog } from './feed.ts';

export interface RevokeOptions {
  outboxId?: string | undefined;
}

export type { DenylistEntry, RevocationSubject };

export type DenylistStatus = 'ok' | 'degraded';

/**
 * Revoked sessions, tokens and per-user cut-offs. Writes go to the shared store and fan
 * out to every replica; reads are answered from this replica's in-memory mirror.
 */
export interface Denylist {
  /**
   * Resolves once the revocation is durable in the shared store (or throws). `outboxId`:
   * the row record() wrote for it, cleared once the store confirms.
   */
  revoke(entry: DenylistEntry, options?: RevokeOptions): Promise<void>;
  /**
   * Writes the revocation to the durable outbox in the caller's transaction (the state
   * change it belongs to), before revoke() is called after the commit: if this process
   * dies in between, another replica delivers it. Returns the id to pass to revoke();
   * undefined when the store keeps no such outbox.
   */
  record?(tx: Queryable, entry: DenylistEntry): Promise<string | undefined>;
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
