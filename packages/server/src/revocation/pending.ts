// Revocations recorded in the transaction of the state change they belong to, published
// once it has committed (AuthService): the durable outbox row and the state change commit
// or roll back together, and the denylist clears the row when Redis confirms.
import type { Queryable } from '../db/db.ts';
import type { Denylist, DenylistEntry } from './denylist.ts';

export class PendingRevocations {
  private readonly entries: { entry: DenylistEntry; outboxId: string | undefined }[] = [];

  constructor(private readonly denylist: Denylist) {}

  get size(): number {
    return this.entries.length;
  }

  /** Call inside the transaction. */
  async record(tx: Queryable, entries: DenylistEntry[]): Promise<void> {
    for (const entry of entries) this.entries.push({ entry, outboxId: await this.denylist.record?.(tx, entry) });
  }

  /** Entries whose state change has already committed (or has none): durable only if Redis fails them. */
  add(entries: DenylistEntry[]): void {
    for (const entry of entries) this.entries.push({ entry, outboxId: undefined });
  }

  /** Call after the commit: every entry is attempted; the first failure (503) is rethrown after the rest. */
  async publish(): Promise<void> {
    let failure: unknown;
    for (const { entry, outboxId } of this.entries.splice(0)) {
      try {
        await this.denylist.revoke(entry, { outboxId });
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  }
}
