// When the writer meets another Redis server than before (a Sentinel promoted a replica,
// or Redis restarted), writes it confirmed may be missing there: replication is
// asynchronous, and a server restarted without persistence is empty. This replays what was
// confirmed lately and, older than that, everything the system of record still knows.
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { entryKey, mergeEntries, type DenylistEntry } from '@tessera/verifier/internal';

export interface FailoverReplayOptions {
  clock: Clock;
  /** How long a confirmed write is remembered. */
  replayWindowMs: number;
  /** Every revocation that can still matter, from the system of record; absent: replay only. */
  reseed?: (() => Promise<DenylistEntry[]>) | undefined;
  logger?: Logger | undefined;
  /** Puts an entry (back) into the outbox, to be written again. */
  requeue: (entry: DenylistEntry) => void;
  /** One pass of the outbox (after a reseed queued entries). */
  flush: () => Promise<void>;
  closed: () => boolean;
}

export class FailoverReplay {
  /** Entries Redis confirmed within replayWindowMs, by entryKey, oldest first, with when. */
  private readonly confirmed = new Map<string, { entry: DenylistEntry; at: number }>();
  /** run_id of the Redis server the writer last talked to. */
  private serverRunId: string | undefined;
  /** The writer met another server and `reseed` has not yet succeeded for it. */
  private reseedDue = false;
  private reseeding = false;
  /** The last reseed failed (database away): logged once until one succeeds. */
  private reseedFailing = false;

  constructor(private readonly options: FailoverReplayOptions) {}

  /** Keeps what Redis confirmed for replayWindowMs (bounded by the revocation rate). */
  remember(entry: DenylistEntry): void {
    const now = this.options.clock.now();
    const key = entryKey(entry);
    const known = this.confirmed.get(key);
    this.confirmed.delete(key); // re-inserted last: the map stays in confirmation order
    this.confirmed.set(key, { entry: known ? mergeEntries(known.entry, entry) : entry, at: now });
    const horizon = now - this.options.replayWindowMs;
    for (const [k, { at }] of this.confirmed) {
      if (at >= horizon) break;
      this.confirmed.delete(k);
    }
  }

  /**
   * On every (re)connect, with the server's run_id: another server than before gets the
   * recent writes again (the script merges, so a replay changes nothing already there), and
   * a reseed is due (reseedIfDue).
   */
  serverSeen(runId: string | undefined): void {
    if (runId && this.serverRunId && runId !== this.serverRunId) {
      this.replayRecent();
      if (this.options.reseed) this.reseedDue = true;
    }
    if (runId) this.serverRunId = runId;
  }

  private replayRecent(): void {
    if (this.confirmed.size === 0) return;
    const replayed = [...this.confirmed.values()];
    this.confirmed.clear();
    for (const { entry } of replayed) this.options.requeue(entry);
    this.options.logger?.warn(
      { event: 'denylist.replay', count: replayed.length },
      'Redis is another server than before (failover or restart); writing recent revocations again',
    );
  }

  /**
   * After a switch to another server, every revocation the system of record still knows goes
   * through the outbox again (so a failed write is retried like any other). Every replica
   * does this on its own: the script merges, so the duplicates change nothing, and the cost
   * is bounded by the revocations of one access-token lifetime per replica. Electing one
   * replica to do it would save those writes but make it a single point of failure.
   * Retried on the next tick while it fails (the database away); never throws.
   */
  async reseedIfDue(): Promise<void> {
    const { reseed } = this.options;
    if (!reseed || !this.reseedDue || this.reseeding || this.options.closed()) return;
    this.reseeding = true;
    // Cleared first: another switch while the query runs asks for one more pass.
    this.reseedDue = false;
    try {
      const now = this.options.clock.now();
      const entries = (await reseed()).filter((entry) => entry.until > now);
      for (const entry of entries) this.options.requeue(entry);
      this.reseedFailing = false;
      this.options.logger?.info({ event: 'denylist.reseeded', count: entries.length }, 'revocations from the system of record queued for the new Redis server');
    } catch (err) {
      this.reseedDue = true;
      if (!this.reseedFailing) {
        this.reseedFailing = true;
        this.options.logger?.warn({ event: 'denylist.reseed_failed', error: (err as Error).message }, 'could not read the revocations to write to the new Redis server; retrying');
      }
      return;
    } finally {
      this.reseeding = false;
    }
    await this.options.flush();
  }
}
