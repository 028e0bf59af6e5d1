// The denylist shared by every replica: Redis holds the entries, pub/sub fans changes out,
// and each replica answers from its own in-memory mirror (kept in step by the verifier's
// denylist sync). A revocation is never silently lost: until Redis has taken it, it waits in
// an outbox that is retried in the background, and the caller is told (503) that it is
// unconfirmed. The parts, each with its own state:
// - redis-writer.ts: the write connection and the script (store merged, append, publish);
// - unconfirmed-outbox.ts: what Redis has not confirmed, in this process and in SQL;
// - failover-replay.ts: what to write again when Redis turns out to be another server.
import type { Clock } from '../clock.ts';
import { AuthError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { DenylistMirror } from '@tessera/verifier';
import { DEFAULT_KEY_PREFIX, startDenylistSync, type DenylistSync, type RedisTarget } from '@tessera/verifier/internal';
import type { Queryable } from '../db/db.ts';
import type { Denylist, DenylistEntry, DenylistStatus, RevocationSubject, RevokeOptions } from './denylist.ts';
import type { RevocationLog } from './feed.ts';
import { FailoverReplay } from './failover-replay.ts';
import { RedisRevocationLog } from './redis-log.ts';
import { RedisEntryWriter, withTimeout } from './redis-writer.ts';
import type { SqlRevocationOutbox } from './sql-outbox.ts';
import { UnconfirmedOutbox } from './unconfirmed-outbox.ts';

export interface RedisDenylistOptions {
  redis: RedisTarget;
  keyPrefix?: string;
  clock: Clock;
  /** How long a revoke waits for Redis before answering 503 and leaving the entry in the outbox. */
  writeTimeoutMs: number;
  /** How long start() waits for the first load before starting degraded. Default 5000. */
  startTimeoutMs?: number;
  /** Pause between background retries of the outbox. Default 1000. */
  retryIntervalMs?: number;
  /**
   * How long a confirmed write is remembered, to be written again if Redis turns out to be
   * another server (a Sentinel failover, a restart): replication is asynchronous, so the
   * promoted replica may lack the last writes the old primary confirmed. Default 60000.
   */
  replayWindowMs?: number;
  logger?: Logger;
  /** The durable outbox (SQL); without it, unconfirmed revocations wait in this process only. */
  sqlOutbox?: SqlRevocationOutbox;
  /**
   * Every revocation that can still matter, from the system of record (runtime.ts: the SQL
   * rebuild start-up runs too). Called when the writer meets another Redis server than before:
   * one restarted without persistence is empty, and the replay above covers only
   * replayWindowMs. What it returns is written again; a failure is logged and retried.
   */
  reseed?: () => Promise<DenylistEntry[]>;
}

/** Beyond the write timeout, how long a recorded row stays this replica's before others may deliver it. */
const CLAIM_MARGIN_MS = 2_000;

export class RedisDenylist implements Denylist {
  private readonly mirror = new DenylistMirror();
  private readonly prefix: string;
  private readonly writer: RedisEntryWriter;
  private readonly outbox: UnconfirmedOutbox;
  private readonly replay: FailoverReplay;
  /** Writes under way: re-applied after a full reload in case their message is still to come. */
  private readonly inFlight = new Set<DenylistEntry>();
  private readonly lagListeners = new Set<(lagMs: number) => void>();
  private readonly log: RedisRevocationLog;
  private sync: DenylistSync | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private lastStatus: DenylistStatus | undefined;

  constructor(private readonly options: RedisDenylistOptions) {
    this.prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    const { clock, logger } = options;
    this.writer = new RedisEntryWriter({ redis: options.redis, prefix: this.prefix, clock, writeTimeoutMs: options.writeTimeoutMs });
    this.outbox = new UnconfirmedOutbox({
      clock,
      logger,
      sqlOutbox: options.sqlOutbox,
      deliver: (entry) => this.deliver(entry),
      connected: () => this.writer.isReady,
      onChange: () => this.report(),
    });
    this.replay = new FailoverReplay({
      clock,
      logger,
      reseed: options.reseed,
      replayWindowMs: options.replayWindowMs ?? 60_000,
      requeue: (entry) => this.outbox.add(entry),
      flush: () => this.outbox.flush(),
      closed: () => this.closed,
    });
    this.log = new RedisRevocationLog({ redis: options.redis, prefix: this.prefix, clock, connection: () => this.writer.connection });
  }

  get feed(): RevocationLog {
    return this.log;
  }

  async start(): Promise<void> {
    if (this.sync) return;
    this.sync = startDenylistSync(
      { redis: this.options.redis, keyPrefix: this.prefix, mirror: this.mirror, now: () => this.options.clock.now(), onChange: () => this.report() },
      { afterReload: () => this.reapplyUnconfirmed(), afterMessage: (_entry, publishedAt) => this.reportLag(publishedAt) },
    );
    const connection = this.writer.open();
    connection.on('ready', () => void this.writerConnected());
    for (const event of ['ready', 'close', 'end']) connection.on(event, () => this.report());
    this.retryTimer = setInterval(() => void this.tick(), this.options.retryIntervalMs ?? 1_000);
    this.retryTimer.unref();

    const startTimeoutMs = this.options.startTimeoutMs ?? 5_000;
    // Redis being down must not keep the replica from serving: verification works from the
    // (empty, then filling) mirror, and the sync keeps trying in the background.
    const loaded = await withTimeout(Promise.all([this.sync.ready, this.writer.ready()]), startTimeoutMs).then(
      () => true,
      () => false,
    );
    this.lastStatus = this.status();
    if (loaded) {
      this.options.logger?.info({ event: 'denylist.started', store: 'redis', entries: this.mirror.size, status: this.lastStatus }, 'denylist loaded from Redis');
    } else {
      this.options.logger?.warn({ event: 'denylist.degraded', reason: 'initial_load_failed', timeout_ms: startTimeoutMs }, 'Redis unreachable at start; denylist degraded, retrying in the background');
    }
  }

  async record(tx: Queryable, entry: DenylistEntry): Promise<string | undefined> {
    // Other replicas leave the row alone while this one is still trying to write it.
    return this.options.sqlOutbox?.add(entry, tx, this.options.writeTimeoutMs + CLAIM_MARGIN_MS);
  }

  async revoke(entry: DenylistEntry, options: RevokeOptions = {}): Promise<void> {
    if (!this.sync || this.closed) throw new Error('RedisDenylist is not running');
    // Effective on this replica at once, whatever happens to Redis.
    this.mirror.apply(entry);
    if (entry.until <= this.options.clock.now()) return; // nothing left to revoke
    this.inFlight.add(entry);
    try {
      await this.deliver(entry);
      if (options.outboxId) await this.outbox.settle(options.outboxId, 'remove');
    } catch (err) {
      this.outbox.add(entry);
      if (options.outboxId) await this.outbox.settle(options.outboxId, 'release');
      else await this.outbox.persist(entry);
      this.options.logger?.warn(
        { event: 'denylist.write_failed', kind: entry.kind, outbox: this.outbox.size, error: (err as Error).message },
        'revocation not confirmed by Redis; kept in the outbox and retried',
      );
      throw new AuthError(
        'service_unavailable',
        'The revocation took effect on this server but could not yet be confirmed for every server; it is retried in the background. Retry the request to confirm.',
        {},
        { cause: err },
      );
    } finally {
      this.inFlight.delete(entry);
    }
  }

  isRevoked(subject: RevocationSubject): boolean {
    return this.mirror.isRevoked(subject, this.options.clock.now());
  }

  status(): DenylistStatus {
    if (!this.sync || !this.writer.connection || this.closed) return 'degraded';
    return this.sync.status() === 'ok' && this.writer.isReady && this.outbox.size === 0 ? 'ok' : 'degraded';
  }

  observeMirrorLag(listener: (lagMs: number) => void): () => void {
    this.lagListeners.add(listener);
    return () => this.lagListeners.delete(listener);
  }

  /** Publication → application in this mirror; entries from writers without `published_at` are skipped. */
  private reportLag(publishedAt: number | undefined): void {
    if (publishedAt === undefined) return;
    const lagMs = this.options.clock.now() - publishedAt;
    for (const listener of this.lagListeners) listener(lagMs);
  }

  size(): number {
    this.mirror.prune(this.options.clock.now());
    return this.mirror.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.retryTimer);
    if (this.outbox.size > 0) {
      this.options.logger?.error(
        { event: 'denylist.outbox_dropped', count: this.outbox.size },
        'shutting down with revocations Redis never confirmed; other replicas may not know them',
      );
    }
    await Promise.all([this.sync?.close(), this.writer.close(), this.log.close()]);
  }

  /** One bounded write; remembered for a failover replay once Redis confirms it (even after the timeout). */
  private deliver(entry: DenylistEntry): Promise<void> {
    return withTimeout(
      this.writer.write(entry).then(() => this.replay.remember(entry)),
      this.options.writeTimeoutMs,
    );
  }

  /**
   * Every retry interval: the outbox and a due reseed, and whether Redis is another server
   * than before. A reconnect says so at once (writerConnected), but a cluster connection
   * stays 'ready' through a failover of one shard: there, asking is the only way to know.
   */
  private async tick(): Promise<void> {
    if (this.writer.isReady) this.replay.serverSeen(await this.writer.serverRunId());
    await this.outbox.flush();
    await this.replay.reseedIfDue();
  }

  /** On every (re)connect: replay if Redis is another server, then flush, then reseed if due. */
  private async writerConnected(): Promise<void> {
    this.replay.serverSeen(await this.writer.serverRunId());
    await this.outbox.flush();
    await this.replay.reseedIfDue();
  }

  /** After a full reload (merged into the mirror): what Redis has not taken yet stays in force here. */
  private reapplyUnconfirmed(): void {
    for (const entry of this.outbox.values()) this.mirror.apply(entry);
    for (const entry of this.inFlight) this.mirror.apply(entry);
  }

  /** Logs transitions once start() has settled the initial status. */
  private report(): void {
    if (this.lastStatus === undefined || this.closed) return;
    const current = this.status();
    if (current === this.lastStatus) return;
    this.lastStatus = current;
    if (current === 'degraded') {
      this.options.logger?.warn(
        { event: 'denylist.degraded', outbox: this.outbox.size },
        'denylist degraded: Redis unreachable or revocations unconfirmed; verifying from the local mirror',
      );
    } else {
      this.options.logger?.info({ event: 'denylist.recovered', entries: this.mirror.size }, 'denylist recovered: in step with Redis');
    }
  }
}
