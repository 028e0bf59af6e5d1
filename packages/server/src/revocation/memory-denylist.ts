import type { Clock } from '../clock.ts';
import type { Db } from '../db/db.ts';
import { DenylistMirror } from '@tessera/verifier';
import type { Denylist, DenylistEntry, RevocationSubject } from './denylist.ts';
import { EmbeddedRevocationLog } from './embedded-log.ts';
import type { RevocationLog } from './feed.ts';

/**
 * The single-replica denylist of the embedded default: the mirror is the store. With a
 * database, every revocation is also written to revocation_log before it is confirmed, so a
 * restart forgets none (single access-token revocations included) and the feed's cursors
 * stay valid across it.
 */
export class MemoryDenylist implements Denylist {
  private readonly mirror = new DenylistMirror();
  private readonly log: EmbeddedRevocationLog;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly clock: Clock,
    options: { db?: Db } = {},
  ) {
    this.log = new EmbeddedRevocationLog(clock, options.db);
  }

  get feed(): RevocationLog {
    return this.log;
  }

  async revoke(entry: DenylistEntry): Promise<void> {
    // Effective at once; durable (and announced on the feed) when the row is written.
    this.mirror.apply(entry);
    if (entry.until <= this.clock.now()) return;
    await this.log.append(entry);
  }

  /** Puts entries back into the mirror only: they are already durable elsewhere (seeding from SQL at start). */
  restore(entries: DenylistEntry[]): void {
    for (const entry of entries) this.mirror.apply(entry);
  }

  isRevoked(subject: RevocationSubject): boolean {
    return this.mirror.isRevoked(subject, this.clock.now());
  }

  status() {
    return 'ok' as const;
  }

  size(): number {
    this.mirror.prune(this.clock.now());
    return this.mirror.size;
  }

  async start(): Promise<void> {
    this.restore(await this.log.load());
    this.pruneTimer = setInterval(() => {
      this.mirror.prune(this.clock.now());
      void this.log.trim().catch(() => {
        // The database is away; the next pass trims.
      });
    }, 60_000);
    this.pruneTimer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.pruneTimer);
  }
}
