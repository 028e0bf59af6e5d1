// The revocation feed's log, as the HTTP routes see it (GET /revocations[/stream]): entries
// in order, each with an opaque cursor, read from a cursor on or as a full snapshot. Redis
// mode keeps it in a Redis stream (redis-log.ts), the embedded default in the process and
// SQL (embedded-log.ts); either way any replica answers any cursor.
// The entry type is the verifier's (denylist.ts re-exports it too): the log needs nothing of
// the denylist, which holds a log, so this module imports none of it.
import type { DenylistEntry } from '@tessera/verifier';
import { mergeBySubject } from '@tessera/verifier/internal';

export interface LogItem {
  cursor: string;
  entry: DenylistEntry;
}

export interface LogPage {
  /** True when the cursor was absent, malformed, unknown or older than the log: `items` start from the beginning. */
  snapshot: boolean;
  /** Live entries, oldest first (expired ones are skipped). */
  items: LogItem[];
  /** Where to resume: the last entry read when `more`, otherwise the newest position of the log. */
  next: string;
  more: boolean;
}

/** What the log just grew by: every live entry after `after`, up to `next`. */
export interface AppendBatch {
  after: string;
  items: LogItem[];
  next: string;
}

export interface RevocationLog {
  /** Entries after `after` (exclusive), at most `limit`, or a snapshot page when the cursor cannot be served. */
  read(after: string | undefined, limit: number): Promise<LogPage>;
  /**
   * Calls `listener` whenever the log may have grown, with the new entries when the log
   * knows them (a listener whose cursor is `batch.after` needs no read of its own).
   * Returns the unsubscribe function.
   */
  onAppend(listener: (batch?: AppendBatch) => void): () => void;
}

// The feed's wire form and the merge are the revocation model's (the verifier's
// revocation-model.ts, which the feed client parses with): one definition for both ends.
export { toFeedEntry as toWire, type FeedEntry as WireEntry } from '@tessera/verifier/internal';

/** Keeps one entry per subject (merged forward-only), in first-seen order: a snapshot. */
export function dedupe(items: LogItem[]): DenylistEntry[] {
  return mergeBySubject(items.map((item) => item.entry));
}

/** Calls every listener; one that throws does not stop the others. */
export class AppendSignal {
  private readonly listeners = new Set<(batch?: AppendBatch) => void>();
  on(listener: (batch?: AppendBatch) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  get size(): number {
    return this.listeners.size;
  }
  emit(batch?: AppendBatch): void {
    for (const listener of this.listeners) {
      try {
        listener(batch);
      } catch {
        // A listener's failure is its own business (a closed stream).
      }
    }
  }
}
