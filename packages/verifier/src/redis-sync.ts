// Keeps a DenylistMirror in step with the denylist Tessera writes to Redis. Part of the
// public verifier library: it imports only ioredis, node built-ins and verifier/ files.
//
// The storage format (keys, values, channel) is the revocation model's
// (revocation-model.ts), shared with the server's writer: one key per entry expiring at
// `until`, every write published; the message adds `published_at` for lag metrics.
import type { Cluster, Redis } from 'ioredis';
import { ClusterNodeSubscriber } from './cluster-subscriber.js';
import type { DenylistMirror } from './denylist-mirror.js';
import { firstLoad } from './first-load.js';
import { closeRedis, clusterNodeOptions, isClusterTarget, openRedis, type RedisTarget } from './redis-connection.js';
import {
  DEFAULT_KEY_PREFIX,
  denylistChannel,
  denylistKeyPattern,
  parseDenylistEntry,
  publishedAtOf,
  type DenylistEntry,
} from './revocation-model.js';

export type DenylistSyncStatus = 'ok' | 'degraded';

export interface DenylistSyncOptions {
  /**
   * A `redis://` URL, ioredis options (one server or Sentinel), or `{ cluster: { nodes, … } }`
   * for a Redis Cluster. A `keyPrefix` in the options is ignored: use `keyPrefix` below.
   */
  redis: RedisTarget;
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
  const subscriberOptions = { autoResubscribe: false, enableOfflineQueue: false, socketTimeout: SOCKET_TIMEOUT_MS, connectionName: 'tessera-denylist-sub' };
  const commands = openRedis(options.redis, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    socketTimeout: SOCKET_TIMEOUT_MS,
    connectionName: 'tessera-denylist-load',
  });
  const target = options.redis;
  // On a cluster: one node at a time (any node hears every PUBLISH), taken from the cluster
  // connection's current view of the nodes, the seeds until it has one.
  const subscriber: Redis | ClusterNodeSubscriber = isClusterTarget(target)
    ? new ClusterNodeSubscriber(() => {
        const known = (commands as Cluster).nodes('all').map((node) => ({ host: node.options.host ?? '127.0.0.1', port: node.options.port ?? 6379 }));
        return known.length > 0 ? known : target.cluster.nodes;
      }, clusterNodeOptions(target.cluster, subscriberOptions))
    : openRedis(target, subscriberOptions);

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
    // SCAN walks one server. On a cluster every primary is walked (the keys share one hash
    // tag, so one primary holds them all, but which one changes with failovers and
    // resharding), and each batch is read from the node that listed it: one slot, one node.
    const servers: Redis[] = commands.isCluster ? (commands as Cluster).nodes('master') : [commands as Redis];
    if (servers.length === 0) throw new Error('the cluster named no primary yet');
    for (const server of servers) {
      let cursor = '0';
      do {
        const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
        cursor = next;
        if (keys.length === 0) continue;
        const values = await server.mget(...keys);
        for (const value of values) {
          const entry = parseDenylistEntry(value);
          if (entry) entries.push(entry);
        }
      } while (cursor !== '0');
    }
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
      await Promise.all([subscriber instanceof ClusterNodeSubscriber ? subscriber.quit() : closeRedis(subscriber), closeRedis(commands)]);
    },
  };
}
