// The denylist shared by every replica: Redis holds the entries, pub/sub fans changes out,
// and each replica answers from its own in-memory mirror (kept in step by redis-sync).
// A revocation is never silently lost: until Redis has taken it, it waits in an outbox
// that is retried in the background, and the caller is told (503) that it is unconfirmed.
// With a database the outbox is durable too (sql-outbox.ts): written before that 503, and
// drained to Redis by whichever replica reaches Redis first.
import type { Redis, RedisOptions } from 'ioredis';
import type { Clock } from '../clock.ts';
import { AuthError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { DenylistMirror } from '@tessera/verifier';
import {
  closeRedis,
  DEFAULT_KEY_PREFIX,
  denylistChannel,
  denylistKey,
  encodeDenylistEntry,
  openRedis,
  startDenylistSync,
  type DenylistSync,
} from '@tessera/verifier/internal';
import type { Queryable } from '../db/db.ts';
import type { Denylist, DenylistEntry, DenylistStatus, RevocationSubject, RevokeOptions } from './denylist.ts';
import type { RevocationLog } from './feed.ts';
import { APPEND_AND_TRIM_LUA, RedisRevocationLog, revocationStreamKey, revocationTrimmedKey } from './redis-log.ts';
import type { SqlRevocationOutbox } from './sql-outbox.ts';

/**
 * Store, append to the feed's stream and publish in one step, so an entry is never stored
 * without being announced.
 * Merging with what is stored keeps `until` (and a user's cut-off `before`) moving only
 * forward: a late or replayed write cannot shorten a revocation. (`until` is a Lua keyword,
 * hence the brackets.)
 */
const REVOKE_SCRIPT = `
local entry = cjson.decode(ARGV[2])
local stored = redis.call('GET', KEYS[1])
if stored then
  local ok, known = pcall(cjson.decode, stored)
  if ok and type(known) == 'table' then
    if type(known['until']) == 'number' and known['until'] > entry['until'] then entry['until'] = known['until'] end
    if entry.kind == 'user' and type(known.before) == 'number' and known.before > entry.before then entry.before = known.before end
  end
end
local value = cjson.encode(entry)
redis.call('SET', KEYS[1], value, 'PXAT', string.format('%d', entry['until']))
${APPEND_AND_TRIM_LUA}-- The message, not the stored value, says when it was sent: replicas measure their lag from it.
entry.published_at = tonumber(ARGV[3])
redis.call('PUBLISH', ARGV[1], cjson.encode(entry))
return 1
`;

export interface RedisDenylistOptions {
  redis: string | RedisOptions;
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

const entryId = (entry: DenylistEntry): string => `${entry.kind}:${entry.id}`;

function merge(a: DenylistEntry, b: DenylistEntry): DenylistEntry {
  const until = Math.max(a.until, b.until);
  if (a.kind === 'user' && b.kind === 'user') return { ...a, before: Math.max(a.before, b.before), until };
  return { ...a, until };
}

/** Whether writing `a` revokes at least what `b` would. */
function covers(a: DenylistEntry, b: DenylistEntry): boolean {
  if (a.until < b.until) return false;
  return b.kind !== 'user' || (a.kind === 'user' && a.before >= b.before);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class RedisDenylist implements Denylist {
  private readonly mirror = new DenylistMirror();
  private readonly prefix: string;
  /** Entries Redis has not confirmed, by kind:id; retried until it does. */
  private readonly outbox = new Map<string, DenylistEntry>();
  /** Writes under way: re-applied after a full reload in case their message is still to come. */
  private readonly inFlight = new Set<DenylistEntry>();
  /** Entries Redis confirmed within replayWindowMs, by kind:id, oldest first, with when. */
  private readonly confirmed = new Map<string, { entry: DenylistEntry; at: number }>();
  /** run_id of the Redis server the writer last talked to; another one means data may be missing. */
  private serverRunId: string | undefined;
  /** The writer met another server and `reseed` has not yet succeeded for it. */
  private reseedDue = false;
  private reseeding = false;
  /** The last reseed failed (database away): logged once until one succeeds. */
  private reseedFailing = false;
  private sync: DenylistSync | undefined;
  private writer: Redis | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private flushing = false;
  /** The durable outbox could not be read (database away): logged once until it can. */
  private drainFailing = false;
  private readyWaiter: Promise<void> | undefined;
  private closed = false;
  private lastStatus: DenylistStatus | undefined;
  private readonly lagListeners = new Set<(lagMs: number) => void>();
  private readonly log: RedisRevocationLog;

  constructor(private readonly options: RedisDenylistOptions) {
    this.prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.log = new RedisRevocationLog({ redis: options.redis, prefix: this.prefix, clock: options.clock, connection: () => this.writer });
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
    // Fail fast while disconnected: a revoke must not hang in ioredis' offline queue. A write
    // unanswered for writeTimeoutMs drops the connection, so a half-open socket is replaced
    // by a fresh one (and the outbox flushed on it) instead of swallowing every retry.
    this.writer = openRedis(this.options.redis, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      socketTimeout: Math.max(this.options.writeTimeoutMs, 500),
      connectionName: 'tessera-denylist-write',
    });
    this.writer.on('ready', () => void this.writerConnected());
    for (const event of ['ready', 'close', 'end']) this.writer.on(event, () => this.report());
    this.retryTimer = setInterval(() => void this.flush().then(() => this.reseedIfDue()), this.options.retryIntervalMs ?? 1_000);
    this.retryTimer.unref();

    const startTimeoutMs = this.options.startTimeoutMs ?? 5_000;
    // Redis being down must not keep the replica from serving: verification works from the
    // (empty, then filling) mirror, and the sync keeps trying in the background.
    const loaded = await withTimeout(Promise.all([this.sync.ready, this.writerReady()]), startTimeoutMs).then(
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
      await withTimeout(this.write(entry), this.options.writeTimeoutMs);
      if (options.outboxId) await this.settle(options.outboxId, 'remove');
    } catch (err) {
      this.enqueue(entry);
      if (options.outboxId) await this.settle(options.outboxId, 'release');
      else await this.persist(entry);
      this.options.logger?.warn(
        { event: 'denylist.write_failed', kind: entry.kind, outbox: this.outbox.size, error: (err as Error).message },
        'revocation not confirmed by Redis; kept in the outbox and retried',
      );
      throw new AuthError(
        'service_unavailable',
        'The revocation took effect on this server but could not yet be confirmed for every server; it is retried in the background. Retry the request to confirm.',
      );
    } finally {
      this.inFlight.delete(entry);
    }
  }

  isRevoked(subject: RevocationSubject): boolean {
    return this.mirror.isRevoked(subject, this.options.clock.now());
  }

  status(): DenylistStatus {
    if (!this.sync || !this.writer || this.closed) return 'degraded';
    return this.sync.status() === 'ok' && this.writer.status === 'ready' && this.outbox.size === 0 ? 'ok' : 'degraded';
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
    await Promise.all([this.sync?.close(), this.writer ? closeRedis(this.writer) : undefined, this.log.close()]);
  }

  /** Clears (delivered) or releases (for any replica to deliver) a row record() wrote; a failure leaves it to the drainers. */
  private async settle(id: string, how: 'remove' | 'release'): Promise<void> {
    try {
      await this.options.sqlOutbox?.[how](id);
    } catch {
      // Delivered twice at worst (the write merges), or delivered after the claim runs out.
    }
  }

  /** Into the durable outbox; if the database is away too, the in-process outbox is all there is. */
  private async persist(entry: DenylistEntry): Promise<void> {
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
   * Waits for the writer to be connected: a revoke during a short reconnect (or right after
   * start) should succeed, not fail. Callers bound the wait; one shared listener, not one per call.
   */
  private writerReady(): Promise<void> {
    const writer = this.writer;
    if (!writer) return Promise.reject(new Error('not started'));
    if (writer.status === 'ready') return Promise.resolve();
    this.readyWaiter ??= new Promise<void>((resolve) => {
      writer.once('ready', () => {
        this.readyWaiter = undefined;
        resolve();
      });
    });
    return this.readyWaiter;
  }

  private async write(entry: DenylistEntry): Promise<void> {
    await this.writerReady();
    if (!this.writer) throw new Error('not started');
    await this.writer.eval(
      REVOKE_SCRIPT,
      3,
      denylistKey(this.prefix, entry),
      revocationStreamKey(this.prefix),
      revocationTrimmedKey(this.prefix),
      denylistChannel(this.prefix),
      encodeDenylistEntry(entry),
      String(this.options.clock.now()),
    );
    this.remember(entry);
  }

  /** Keeps what Redis confirmed for replayWindowMs (bounded by the revocation rate). */
  private remember(entry: DenylistEntry): void {
    const now = this.options.clock.now();
    const id = entryId(entry);
    const known = this.confirmed.get(id);
    this.confirmed.delete(id); // re-inserted last: the map stays in confirmation order
    this.confirmed.set(id, { entry: known ? merge(known.entry, entry) : entry, at: now });
    const horizon = now - (this.options.replayWindowMs ?? 60_000);
    for (const [key, { at }] of this.confirmed) {
      if (at >= horizon) break;
      this.confirmed.delete(key);
    }
  }

  /**
   * On every (re)connect: if this is not the Redis server the writer talked to before (a
   * Sentinel promoted a replica, or Redis restarted), the writes it confirmed lately may not
   * have made it there; they go back into the outbox and are written again (the script
   * merges, so a replay changes nothing that is already there). Then the outbox is flushed,
   * and everything older that still matters is written again from `reseed` (reseedIfDue).
   */
  private async writerConnected(): Promise<void> {
    try {
      const runId = /^run_id:(\w+)/m.exec((await this.writer?.info('server')) ?? '')?.[1];
      if (runId && this.serverRunId && runId !== this.serverRunId) {
        this.replayRecent();
        if (this.options.reseed) this.reseedDue = true;
      }
      if (runId) this.serverRunId = runId;
    } catch {
      // Lost the connection again; the next 'ready' checks once more.
    }
    await this.flush();
    await this.reseedIfDue();
  }

  private replayRecent(): void {
    if (this.confirmed.size === 0) return;
    const replayed = [...this.confirmed.values()];
    this.confirmed.clear();
    for (const { entry } of replayed) this.enqueue(entry);
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
  private async reseedIfDue(): Promise<void> {
    const { reseed } = this.options;
    if (!reseed || !this.reseedDue || this.reseeding || this.closed) return;
    this.reseeding = true;
    // Cleared first: another switch while the query runs asks for one more pass.
    this.reseedDue = false;
    try {
      const now = this.options.clock.now();
      const entries = (await reseed()).filter((entry) => entry.until > now);
      for (const entry of entries) this.enqueue(entry);
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
    await this.flush();
  }

  private enqueue(entry: DenylistEntry): void {
    const id = entryId(entry);
    const queued = this.outbox.get(id);
    this.outbox.set(id, queued ? merge(queued, entry) : entry);
    this.report();
  }

  /**
   * One pass over the durable outbox (every replica's unconfirmed revocations), then over
   * this process's; stops at the first failure (Redis is still away). Never rejects.
   */
  private async flush(): Promise<void> {
    if (this.flushing || this.writer?.status !== 'ready') return;
    if (this.outbox.size === 0 && !this.options.sqlOutbox) return;
    this.flushing = true;
    try {
      if (this.options.sqlOutbox) await this.drainSql(this.options.sqlOutbox);
      if (this.outbox.size === 0) return;
      for (const [id, entry] of [...this.outbox]) {
        if (entry.until <= this.options.clock.now()) {
          this.outbox.delete(id);
          continue;
        }
        await withTimeout(this.write(entry), this.options.writeTimeoutMs);
        // A newer revoke of the same subject may have been merged in meanwhile: keep that one.
        if (this.outbox.get(id) === entry) this.outbox.delete(id);
      }
      this.options.logger?.info({ event: 'denylist.outbox_flushed' }, 'unconfirmed revocations written to Redis');
    } catch {
      // Retried by the timer and on the next reconnect.
    } finally {
      this.flushing = false;
      this.report();
    }
  }

  private async drainSql(sqlOutbox: SqlRevocationOutbox): Promise<void> {
    for (;;) {
      const delivered = await sqlOutbox
        .drain((entry) => withTimeout(this.write(entry), this.options.writeTimeoutMs), this.options.clock.now())
        .catch((err: unknown) => {
          // Redis failing again is retried; a database failure is worth one line per outage.
          if (!/Redis|not started/.test((err as Error).message) && !this.drainFailing) {
            this.drainFailing = true;
            this.options.logger?.warn({ event: 'denylist.outbox_drain_failed', error: (err as Error).message }, 'could not drain the durable outbox; retrying');
          }
          throw err;
        });
      this.drainFailing = false;
      if (delivered.length === 0) return;
      // What this process still holds for the same subjects is delivered if the row covered it.
      for (const entry of delivered) {
        const queued = this.outbox.get(entryId(entry));
        if (queued && covers(entry, queued)) this.outbox.delete(entryId(entry));
      }
      this.options.logger?.info({ event: 'denylist.outbox_drained', count: delivered.length }, 'revocations from the durable outbox written to Redis');
    }
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
