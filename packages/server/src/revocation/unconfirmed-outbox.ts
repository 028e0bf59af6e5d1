// Revocations Redis has not confirmed yet. In this process: one merged entry per subject,
// retried until Redis takes it. With a database, the durable outbox (sql-outbox.ts) is
// drained first: every replica's unconfirmed rows, so none is lost with its replica.
import type { Clock } from '../clock.ts';
import { isInfrastructureError } from '../infrastructure-error.ts';
import type { Logger } from '../logger.ts';
import { coversEntry, entryKey, mergeEntries, type DenylistEntry } from '@tessera/verifier/internal';
import type { SqlRevocationOutbox } from './sql-outbox.ts';

export interface UnconfirmedOutboxOptions {
  clock: Clock;
  /** Writes one entry to Redis, bounded by the write timeout; rejects when not confirmed. */
  deliver: (entry: DenylistEntry) => Promise<void>;
  /** Whether Redis is connected: no pass is attempted otherwise. */
  connected: () => boolean;
  sqlOutbox?: SqlRevocationOutbox | undefined;
  logger?: Logger | undefined;
  /** After the content changed (the denylist's status depends on it). */
  onChange: () => void;
}

export class UnconfirmedOutbox {
  /** By entryKey, merged: one write delivers every revoke of the subject so far. */
  private readonly entries = new Map<string, DenylistEntry>();
  private flushing = false;
  /** The durable outbox could not be read (database away): logged once until it can. */
  private drainFailing = false;

  constructor(private readonly options: UnconfirmedOutboxOptions) {}

  get size(): number {
    return this.entries.size;
  }

  values(): IterableIterator<DenylistEntry> {
    return this.entries.values();
  }

  add(entry: DenylistEntry): void {
    const key = entryKey(entry);
    const queued = this.entries.get(key);
    this.entries.set(key, queued ? mergeEntries(queued, entry) : entry);
    this.options.onChange();
  }

  /** Clears (delivered) or releases (for any replica to deliver) a durable row; a failure leaves it to the drainers. */
  async settle(id: string, how: 'remove' | 'release'): Promise<void> {
    try {
      await this.options.sqlOutbox?.[how](id);
    } catch {
      // Delivered twice at worst (the write merges), or delivered after the claim runs out.
    }
  }

  /** Into the durable outbox; if the database is away too, this process is all there is. */
  async persist(entry: DenylistEntry): Promise<void> {
    if (!this.options.sqlOutbox) return;
    try {
      await this.options.sqlOutbox.add(entry);
    } catch (err) {
      this.options.logger?.error(
        { event: 'denylist.outbox_not_durable', kind: entry.kind, error: (err as Error).message },
        'revocation kept in this process only: neither Redis nor the database took it',
      );
    }
  }

  /**
   * One pass over the durable outbox (every replica's unconfirmed revocations), then over
   * this process's; stops at the first failure (Redis is still away). Never rejects.
   */
  async flush(): Promise<void> {
    if (this.flushing || !this.options.connected()) return;
    if (this.entries.size === 0 && !this.options.sqlOutbox) return;
    this.flushing = true;
    try {
      if (this.options.sqlOutbox) await this.drainSql(this.options.sqlOutbox);
      if (this.entries.size === 0) return;
      for (const [key, entry] of [...this.entries]) {
        if (entry.until <= this.options.clock.now()) {
          this.entries.delete(key);
          continue;
        }
        await this.options.deliver(entry);
        // A newer revoke of the same subject may have been merged in meanwhile: keep that one.
        if (this.entries.get(key) === entry) this.entries.delete(key);
      }
      this.options.logger?.info({ event: 'denylist.outbox_flushed' }, 'unconfirmed revocations written to Redis');
    } catch {
      // Retried by the timer and on the next reconnect.
    } finally {
      this.flushing = false;
      this.options.onChange();
    }
  }

  private async drainSql(sqlOutbox: SqlRevocationOutbox): Promise<void> {
    for (;;) {
      const delivered = await sqlOutbox.drain(this.options.deliver, this.options.clock.now()).catch((err: unknown) => {
        // Redis failing again is retried; a database failure is worth one line per outage.
        if (!isInfrastructureError(err, 'redis') && !this.drainFailing) {
          this.drainFailing = true;
          this.options.logger?.warn({ event: 'denylist.outbox_drain_failed', error: (err as Error).message }, 'could not drain the durable outbox; retrying');
        }
        throw err;
      });
      this.drainFailing = false;
      if (delivered.length === 0) return;
      // What this process still holds for the same subjects is delivered if the row covered it.
      for (const entry of delivered) {
        const queued = this.entries.get(entryKey(entry));
        if (queued && coversEntry(entry, queued)) this.entries.delete(entryKey(entry));
      }
      this.options.logger?.info({ event: 'denylist.outbox_drained', count: delivered.length }, 'revocations from the durable outbox written to Redis');
    }
  }
}
