// Keeps a DenylistMirror in step with the denylist Tessera writes to Redis. Part of the
// public verifier library: it imports only ioredis, node built-ins and verifier/ files.
//
// Storage format (shared with the server's writer, src/revocation/redis-denylist.ts):
// - one key per entry, `${prefix}deny:${kind}:${id}`, value = the JSON DenylistEntry,
//   expiring at `until` (SET … PXAT), so Redis forgets it when it can no longer matter;
// - every write is published, same JSON, on `${prefix}denylist`.
// - the message (not the stored value) adds `published_at` (ms, writer's clock) for lag metrics.
import { Redis, type RedisOptions } from 'ioredis';
import type { DenylistEntry, DenylistMirror } from './denylist-mirror.js';
import type { ConnectionOptions } from 'node:tls';
import type { RedisSentinelConnection, RedisTlsOptions } from './options.js';
import { firstLoad } from './first-load.js';

export const DEFAULT_KEY_PREFIX = 'tessera:';

export type DenylistSyncStatus = 'ok' | 'degraded';

export const denylistChannel = (prefix: string): string => `${prefix}denylist`;

export const denylistKey = (prefix: string, entry: Pick<DenylistEntry, 'kind' | 'id'>): string =>
  `${prefix}deny:${entry.kind}:${entry.id}`;

/** SCAN pattern for every entry key; glob characters in the prefix are escaped. */
export const denylistKeyPattern = (prefix: string): string => `${prefix.replace(/[*?[\]\\]/g, '\\$&')}deny:*`;

/** The wire form of an entry; `until` is rounded up because PXAT takes whole milliseconds. */
export function encodeDenylistEntry(entry: DenylistEntry): string {
  const until = Math.ceil(entry.until);
  return JSON.stringify(entry.kind === 'user' ? { kind: 'user', id: entry.id, before: entry.before, until } : { kind: entry.kind, id: entry.id, until });
}

/** The optional `published_at` of a wire entry (already known to be valid JSON), or undefined. */
function publishedAtOf(text: string): number | undefined {
  const value = (JSON.parse(text) as { published_at?: unknown }).published_at;
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Parses a stored or published entry; anything malformed yields `undefined`, never a throw. */
export function parseDenylistEntry(text: string | null | undefined): DenylistEntry | undefined {
  if (typeof text !== 'string' || text.length > 4096) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { kind, id, until, before } = value as Record<string, unknown>;
  if (typeof id !== 'string' || id.length === 0 || typeof until !== 'number' || !Number.isFinite(until)) return undefined;
  if (kind === 'session' || kind === 'token') return { kind, id, until };
  if (kind === 'user' && typeof before === 'number' && Number.isFinite(before)) return { kind, id, before, until };
  return undefined;
}

export interface DenylistSyncOptions {
  /** A `redis://` URL or ioredis options. Their `keyPrefix` is ignored: use `keyPrefix` below. */
  redis: string | RedisOptions;
  /** Prefix of every key and of the channel; must match the server's REDIS_KEY_PREFIX. Default `'tessera:'`. */
  keyPrefix?: string;
  /** The mirror to fill; the caller answers `isRevoked` from it. */
  mirror: DenylistMirror;
  /** Milliseconds since the epoch; used to drop expired entries. Default `Date.now`. */
  now?: () => number;
  /** Called whenever `status()` changes. */
  onChange?: (status: DenylistSyncStatus) => void;
}

export interface DenylistSync {
  /**
   * Resolves after the first full load. While Redis is unreachable it stays pending (race it
   * with a timeout to start degraded); it rejects only if `close()` is called first.
   */
  ready: Promise<void>;
  /** `'degraded'` while a connection is down or the mirror has not caught up since the last (re)connect. */
  status(): DenylistSyncStatus;
  /** Closes both connections. The mirror keeps its content. */
  close(): Promise<void>;
}

/** Internal extension used by the server: runs after every full reload (to re-apply unconfirmed writes). */
export interface DenylistSyncInternals {
  afterReload?: () => void;
  /** Runs after a published entry was applied to the mirror, with its `published_at` if any (mirror-lag metric). */
  afterMessage?: (entry: DenylistEntry, publishedAt: number | undefined) => void;
}

const SCAN_COUNT = 1000;
const PRUNE_INTERVAL_MS = 60_000;
const MAX_LOAD_RETRY_MS = 2_000;
const SOCKET_TIMEOUT_MS = 10_000;
// A subscriber only listens, so without a periodic command it would never notice that the
// network silently dropped it (and would stop receiving revocations without knowing).
const HEARTBEAT_INTERVAL_MS = 15_000;

/** Reconnect quickly but without hammering: revocations should flow again soon after Redis is back. */
export const defaultRetryStrategy = (attempt: number): number => Math.min(100 * attempt, 2_000) + Math.floor(Math.random() * 100);

/** Opens a connection with our settings layered over the caller's options. */
export function openRedis(redis: string | RedisOptions, overrides: RedisOptions): Redis {
  const base: RedisOptions = typeof redis === 'string' ? {} : { ...redis };
  // A client-side prefix would be applied to MGET/EVAL keys but not to SCAN results.
  delete base.keyPrefix;
  const options: RedisOptions = { retryStrategy: defaultRetryStrategy, ...base, ...overrides };
  const connection = typeof redis === 'string' ? new Redis(redis, options) : new Redis(options);
  // Without a listener ioredis prints every failed reconnect; status() reports outages instead.
  connection.on('error', () => {});
  return connection;
}

/**
 * ioredis options for a Sentinel-managed Redis (what `revocation: { redisSentinel }` uses).
 * Passing ioredis' own `{ sentinels, name, … }` as `redis` works too; this adds a reconnect
 * when a command meets a demoted primary (READONLY), so the sentinels name the new one.
 */
export function sentinelRedisOptions(connection: RedisSentinelConnection): RedisOptions {
  const tls = tlsConnectionOptions(connection.tls);
  const sentinelTls = connection.sentinelTls === undefined ? tls : tlsConnectionOptions(connection.sentinelTls);
  return {
    sentinels: connection.sentinels.map(({ host, port }) => ({ host, port })),
    name: connection.name ?? 'mymaster',
    db: connection.db ?? 0,
    // ioredis sends AUTH <username> <password> when a username is given, AUTH <password> otherwise.
    ...(connection.username !== undefined ? { username: connection.username } : {}),
    ...(connection.password !== undefined ? { password: connection.password } : {}),
    ...(connection.sentinelUsername !== undefined ? { sentinelUsername: connection.sentinelUsername } : {}),
    ...(connection.sentinelPassword !== undefined ? { sentinelPassword: connection.sentinelPassword } : {}),
    // In Sentinel mode ioredis uses `tls` for the data nodes only together with
    // enableTLSForSentinelMode (SentinelConnector); the sentinels take `sentinelTLS`.
    ...(tls !== undefined ? { tls, enableTLSForSentinelMode: true } : {}),
    ...(sentinelTls !== undefined ? { sentinelTLS: sentinelTls } : {}),
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
}

/** Node TLS options for one side of a Sentinel connection; undefined: plain TCP. Only `ca` is copied, so nothing can turn verification off. */
function tlsConnectionOptions(tls: RedisTlsOptions | boolean | undefined): ConnectionOptions | undefined {
  if (tls === undefined || tls === false) return undefined;
  return tls === true || tls.ca === undefined ? {} : { ca: tls.ca };
}

/** Closes politely when possible, at once otherwise (quit would wait for a reconnect). */
export async function closeRedis(connection: Redis): Promise<void> {
  if (connection.status === 'ready') {
    await connection.quit().catch(() => connection.disconnect());
  } else {
    connection.disconnect();
  }
}

/**
 * Mirrors Tessera's revocation denylist from Redis into `mirror`: subscribes to the change
 * channel first, then loads every entry (SCAN + MGET), and reloads fully after every
 * reconnect, so a message missed while disconnected is never missed for good. Verifying
 * stays a local look-up in the mirror; Redis being down only makes the mirror stale
 * (`status()` is `'degraded'`), it never fails a verification.
 *
 * @example
 * ```ts
 * import { DenylistMirror } from './denylist-mirror.js';
 * import { syncDenylistFromRedis } from './redis-sync.js';
 *
 * const mirror = new DenylistMirror();
 * const sync = syncDenylistFromRedis({
 *   redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
 *   mirror,
 *   onChange: (status) => console.warn(`denylist ${status}`),
 * });
 * await Promise.race([sync.ready, new Promise((r) => setTimeout(r, 5_000))]); // start even if Redis is down
 * if (mirror.isRevoked({ sid: claims.sid, jti: claims.jti, sub: claims.sub, iat: claims.iat }, Date.now())) reject();
 * // on shutdown
 * await sync.close();
 * ```
 */
export function syncDenylistFromRedis(options: DenylistSyncOptions): DenylistSync {
  return startDenylistSync(options, {});
}

export function startDenylistSync(options: DenylistSyncOptions, internals: DenylistSyncInternals): DenylistSync {
  const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  const channel = denylistChannel(prefix);
  const pattern = denylistKeyPattern(prefix);
  const { mirror } = options;
  const now = options.now ?? Date.now;

  // socketTimeout: a command unanswered that long means a half-open connection; dropping it
  // triggers the reconnect (and reload) that a silent network failure would never trigger.
  const subscriber = openRedis(options.redis, {
    autoResubscribe: false,
    enableOfflineQueue: false,
    socketTimeout: SOCKET_TIMEOUT_MS,
    connectionName: 'tessera-denylist-sub',
  });
  const commands = openRedis(options.redis, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    socketTimeout: SOCKET_TIMEOUT_MS,
    connectionName: 'tessera-denylist-load',
  });

  let closed = false;
  let synced = false;
  // Each (re)connect of the subscriber starts a new generation; an older load that
  // finishes late must not overwrite what a newer one established.
  let generation = 0;
  // Messages received while a load runs: SCAN may miss keys written during it.
  let duringLoad: DenylistEntry[] | undefined;
  let lastStatus: DenylistSyncStatus = 'degraded';
  // Wakes a load retry that is waiting, so close() does not leave a timer behind.
  let wakeRetry: (() => void) | undefined;

  const firstComplete = firstLoad();
  const ready = firstComplete.promise;

  const status = (): DenylistSyncStatus =>
    !closed && synced && subscriber.status === 'ready' && commands.status === 'ready' ? 'ok' : 'degraded';

  const report = (): void => {
    const current = status();
    if (current === lastStatus || closed) return;
    lastStatus = current;
    options.onChange?.(current);
  };

  subscriber.on('message', (from: string, text: string) => {
    if (from !== channel) return;
    const entry = parseDenylistEntry(text);
    if (!entry) return;
    mirror.apply(entry);
    duringLoad?.push(entry);
    if (internals.afterMessage) internals.afterMessage(entry, publishedAtOf(text)); // a 2nd parse, only when listened to
  });

  async function loadAll(): Promise<DenylistEntry[]> {
    const entries: DenylistEntry[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await commands.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      cursor = next;
      if (keys.length === 0) continue;
      const values = await commands.mget(...keys);
      for (const value of values) {
        const entry = parseDenylistEntry(value);
        if (entry) entries.push(entry);
      }
    } while (cursor !== '0');
    return entries;
  }

  async function resync(): Promise<void> {
    const mine = ++generation;
    synced = false;
    report();
    try {
      // Subscribe before loading: a write after the SCAN starts arrives as a message.
      await subscriber.subscribe(channel);
    } catch {
      return; // the connection dropped again; its next 'ready' starts over
    }
    for (let attempt = 1; !closed && mine === generation; attempt++) {
      const buffer: DenylistEntry[] = [];
      duringLoad = buffer;
      try {
        const loaded = await loadAll();
        if (closed || mine !== generation) return;
        const at = now();
        // Merge, never replace: entries only ever expire, so anything the mirror holds is
        // still true. Replacing would let a Redis that restarted empty (no persistence)
        // wipe every replica's live revocations at once.
        for (const entry of [...loaded, ...buffer]) if (entry.until > at) mirror.apply(entry);
        duringLoad = undefined;
        internals.afterReload?.();
        synced = true;
        report();
        firstComplete.loaded();
        return;
      } catch {
        if (duringLoad === buffer) duringLoad = undefined;
        // The command connection is down or slow; try again while the subscriber holds.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(100 * 2 ** attempt, MAX_LOAD_RETRY_MS));
          timer.unref();
          wakeRetry = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wakeRetry = undefined;
      }
    }
  }

  subscriber.on('ready', () => void resync());
  subscriber.on('close', () => {
    // Messages may be lost from now on: stop any load in progress, a reload is due on reconnect.
    generation++;
    synced = false;
    report();
  });
  for (const event of ['ready', 'close', 'end', 'reconnecting']) commands.on(event, report);

  const pruneTimer = setInterval(() => mirror.prune(now()), PRUNE_INTERVAL_MS);
  pruneTimer.unref();
  const heartbeatTimer = setInterval(() => {
    if (subscriber.status === 'ready') subscriber.ping().catch(() => {});
  }, HEARTBEAT_INTERVAL_MS);
  heartbeatTimer.unref();

  return {
    ready,
    status,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(pruneTimer);
      clearInterval(heartbeatTimer);
      wakeRetry?.();
      firstComplete.closedBefore(new Error('denylist sync closed before the first load'));
      await Promise.all([closeRedis(subscriber), closeRedis(commands)]);
    },
  };
}
