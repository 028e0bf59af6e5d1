// The session tables' data lifecycle. Without it refresh_tokens gains a row on every
// refresh and dead sessions (with their IP and user agent) stay forever. Three kinds of
// work, in this order:
//   1. scrub sealed successors whose grace window is over (every refresh already scrubs its
//      own session's; this catches sessions nobody touched since), so a copy of the
//      database and one old rotated token never open the chain to a session's current token;
//   2. delete rotated-token hashes older than SESSION_RETENTION (presented again before
//      then, a rotated token is still recognised as reuse);
//   3. delete sessions dead (expired or revoked) for longer than SESSION_RETENTION, with
//      their last token. Step 2 ran first, so each takes at most one token row with it.
// Every statement touches at most `batchSize` rows and is its own transaction, skipping rows
// another transaction holds: a backlog of millions is worked off in short steps that never
// block a refresh for long. Every replica runs it on a timer; an advisory lock lets one
// run at a time.
import type { Clock } from '../clock.ts';
import type { Db } from '../db/db.ts';
import type { Logger } from '../logger.ts';

/** Class id of the purge's advisory lock (Db.withAdvisoryLock); any constant shared by every replica. */
export const PURGE_LOCK_CLASS = 7_420_114;
export const DEFAULT_PURGE_BATCH = 2_000;
/** Statements per timer run at most; the next run carries on (the CLI has no bound). */
export const DEFAULT_MAX_BATCHES_PER_RUN = 500;

export interface PurgeSettings {
  /** SESSION_RETENTION, seconds: how long dead sessions and rotated-token hashes are kept. */
  retentionSeconds: number;
  /** REFRESH_GRACE_PERIOD, seconds: a sealed successor is useless once it has passed. */
  graceSeconds: number;
  /** Rows per statement: bounds how long one statement holds its row locks. */
  batchSize?: number;
  /** Full batches per run before it stops with work left; unbounded when undefined. */
  maxBatches?: number;
}

export interface PurgeReport {
  /** Sealed successors set to NULL. */
  scrubbed: number;
  /** Rotated-token hashes deleted. */
  tokensDeleted: number;
  /** Dead sessions deleted (with their remaining token rows). */
  sessionsDeleted: number;
  batches: number;
  /** The longest single statement, ms: the longest any row lock of the purge was held. */
  longestBatchMs: number;
  durationMs: number;
  /** False when the run stopped at maxBatches with work left. */
  complete: boolean;
}

const STEPS = [
  {
    name: 'scrubbed',
    cutoff: (now: number, s: PurgeSettings) => now - s.graceSeconds * 1000,
    sql: `WITH batch AS (
            SELECT token_hash FROM refresh_tokens
            WHERE successor_sealed IS NOT NULL AND rotated_at <= $1
            LIMIT $2 FOR UPDATE SKIP LOCKED
          ), done AS (
            UPDATE refresh_tokens t SET successor_sealed = NULL FROM batch WHERE t.token_hash = batch.token_hash RETURNING 1
          )
          SELECT count(*)::int AS n FROM done`,
  },
  {
    name: 'tokensDeleted',
    cutoff: (now: number, s: PurgeSettings) => now - s.retentionSeconds * 1000,
    sql: `WITH batch AS (
            SELECT token_hash FROM refresh_tokens WHERE rotated_at < $1
            LIMIT $2 FOR UPDATE SKIP LOCKED
          ), done AS (
            DELETE FROM refresh_tokens t USING batch WHERE t.token_hash = batch.token_hash RETURNING 1
          )
          SELECT count(*)::int AS n FROM done`,
  },
  {
    name: 'sessionsDeleted',
    cutoff: (now: number, s: PurgeSettings) => now - s.retentionSeconds * 1000,
    // idle_expires_at is never later than absolute_expires_at: it is the session's expiry.
    sql: `WITH batch AS (
            SELECT id FROM sessions WHERE idle_expires_at < $1 OR revoked_at < $1
            LIMIT $2 FOR UPDATE SKIP LOCKED
          ), done AS (
            DELETE FROM sessions s USING batch WHERE s.id = batch.id RETURNING 1
          )
          SELECT count(*)::int AS n FROM done`,
  },
] as const;

/** One pass of the three steps, as of `now`, without the lock (see runPurge). */
export async function purgeSessions(db: Db, now: number, settings: PurgeSettings): Promise<PurgeReport> {
  const batchSize = settings.batchSize ?? DEFAULT_PURGE_BATCH;
  const started = performance.now();
  const report: PurgeReport = { scrubbed: 0, tokensDeleted: 0, sessionsDeleted: 0, batches: 0, longestBatchMs: 0, durationMs: 0, complete: true };
  for (const step of STEPS) {
    const cutoff = new Date(step.cutoff(now, settings));
    for (;;) {
      const batchStarted = performance.now();
      const [row] = await db.query<{ n: number }>(step.sql, [cutoff, batchSize]);
      report.longestBatchMs = Math.max(report.longestBatchMs, performance.now() - batchStarted);
      report.batches++;
      const n = Number(row?.n ?? 0);
      report[step.name] += n;
      if (n < batchSize) break; // this step is done
      if (settings.maxBatches !== undefined && report.batches >= settings.maxBatches) {
        // Out of budget with work left. Sessions are deleted only once their rotated tokens
        // are gone (each then takes one row with it, not thousands): a run cut short before
        // step 3 leaves it to the next run, which starts with the cheap steps again.
        report.complete = false;
        break;
      }
    }
    if (!report.complete) break;
  }
  report.durationMs = performance.now() - started;
  return report;
}

/**
 * runs purgeSessions under the purge's advisory lock. Without `wait`, a run that finds the
 * lock taken (another replica is purging) does nothing and answers `{ acquired: false }`.
 */
export function runPurge(db: Db, clock: Clock, settings: PurgeSettings, options: { wait?: boolean } = {}) {
  return db.withAdvisoryLock(PURGE_LOCK_CLASS, () => purgeSessions(db, clock.now(), settings), options);
}

/** The timer every replica runs (SESSION_PURGE_INTERVAL). */
export class SessionPurger {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly settings: PurgeSettings & { intervalSeconds: number },
  ) {}

  start(): void {
    if (this.settings.intervalSeconds <= 0) return;
    this.timer = setInterval(() => void this.runOnce(), this.settings.intervalSeconds * 1000);
    this.timer.unref();
  }

  /** One run, unless one is already under way in this process. Never throws: a failure is logged and the next run retries. */
  runOnce(): Promise<void> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stops the timer and waits for a run under way, so the pool is not closed under it. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async run(): Promise<void> {
    try {
      const result = await runPurge(this.db, this.clock, { maxBatches: DEFAULT_MAX_BATCHES_PER_RUN, ...this.settings });
      if (!result.acquired) return;
      const r = result.value;
      if (r.scrubbed + r.tokensDeleted + r.sessionsDeleted === 0) return;
      this.logger.info(
        {
          event: 'sessions.purged',
          scrubbed: r.scrubbed,
          tokens_deleted: r.tokensDeleted,
          sessions_deleted: r.sessionsDeleted,
          batches: r.batches,
          duration_ms: Math.round(r.durationMs),
          longest_batch_ms: Math.round(r.longestBatchMs),
          complete: r.complete,
        },
        'purged dead sessions and old refresh-token hashes',
      );
    } catch (err) {
      this.logger.warn({ event: 'sessions.purge_failed', error: (err as Error).message }, 'session purge failed; the next run retries');
    }
  }
}
