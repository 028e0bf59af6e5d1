// The feed's log in Redis mode: a stream beside the denylist keys, appended by the same
// Lua script that stores and publishes an entry (redis-denylist.ts), and trimmed from its
// head as entries expire. Stream IDs are the cursors, so every replica serves every cursor.
import type { Clock } from '../clock.ts';
import { InfrastructureError } from '../infrastructure-error.ts';
import { closeRedis, openRedis, parseDenylistEntry, revocationKeyBase, type RedisClient, type RedisTarget } from '@tessera/verifier/internal';
import { AppendSignal, type AppendBatch, type LogItem, type LogPage, type RevocationLog } from './feed.ts';

// Both carry the revocation keys' hash tag (revocation-model.ts): the write script touches
// them and an entry's key in one step, which a Redis Cluster allows only within one slot.
export const revocationStreamKey = (prefix: string): string => `${revocationKeyBase(prefix)}:stream`;
/** The ID of the newest entry trimmed away: a cursor below it may have missed entries. */
export const revocationTrimmedKey = (prefix: string): string => `${revocationKeyBase(prefix)}:trimmed`;

/**
 * Appended to REVOKE_SCRIPT (KEYS[2] the stream, KEYS[3] the trimmed mark; `value` the
 * merged entry, `now` ARGV[3]). Trims at most 100 expired entries from the head per write:
 * the stream holds every live entry and, amortised, few dead ones.
 */
export const APPEND_AND_TRIM_LUA = `
redis.call('XADD', KEYS[2], '*', 'e', value, 'u', string.format('%d', entry['until']))
local now = tonumber(ARGV[3])
local gone = {}
for _, item in ipairs(redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 100)) do
  local fields, u = item[2], nil
  for i = 1, #fields, 2 do if fields[i] == 'u' then u = tonumber(fields[i + 1]) end end
  if u ~= nil and u > now then break end
  gone[#gone + 1] = item[1]
end
if #gone > 0 then
  redis.call('XDEL', KEYS[2], unpack(gone))
  redis.call('SET', KEYS[3], gone[#gone])
end
`;

/**
 * One page, atomically: whether the cursor can be served (not older than the trimmed mark,
 * not newer than the newest entry), the newest position, and the entries after the cursor.
 */
const READ_SCRIPT = `
local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local trimmed = redis.call('GET', KEYS[2]) or '0-0'
local head = trimmed
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then head = last[1][1] end
local after = ARGV[1]
local snapshot, start = 0, '-'
if after == '' or older(after, trimmed) or older(head, after) then snapshot = 1 else start = '(' .. after end
return {snapshot, head, redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', tonumber(ARGV[2]))}
`;

const CURSOR = /^\d{1,15}-\d{1,15}$/;

type StreamItem = [id: string, fields: string[]];

export interface RedisRevocationLogOptions {
  redis: RedisTarget;
  prefix: string;
  clock: Clock;
  /** The connection to read with (the denylist's writer: fails fast while Redis is away). */
  connection: () => RedisClient | undefined;
}

export class RedisRevocationLog implements RevocationLog {
  private readonly signal = new AppendSignal();
  private tailer: RedisClient | undefined;
  private closed = false;

  constructor(private readonly options: RedisRevocationLogOptions) {}

  async read(after: string | undefined, limit: number): Promise<LogPage> {
    const connection = this.options.connection();
    if (!connection) throw new InfrastructureError('redis', 'the Redis connection is not started');
    const { prefix } = this.options;
    const cursor = after !== undefined && CURSOR.test(after) ? after : '';
    const [snapshot, head, raw] = (await connection
      .eval(READ_SCRIPT, 2, revocationStreamKey(prefix), revocationTrimmedKey(prefix), cursor, String(limit))
      .catch((err: unknown) => {
        throw new InfrastructureError('redis', 'the revocation log read from Redis failed', { cause: err });
      })) as [
      number,
      string,
      StreamItem[],
    ];
    const items = this.live(raw);
    const more = raw.length >= limit;
    return { snapshot: snapshot === 1, items, more, next: more ? raw[raw.length - 1]![0] : head };
  }

  /** The stream items still live, as log items. */
  private live(raw: StreamItem[]): LogItem[] {
    const now = this.options.clock.now();
    const items: LogItem[] = [];
    for (const [id, fields] of raw) {
      const entry = parseDenylistEntry(fields[fields.indexOf('e') + 1]);
      if (entry && entry.until > now) items.push({ cursor: id, entry });
    }
    return items;
  }

  /**
   * The first listener starts one tailing connection per replica (XREAD BLOCK); every new
   * batch is handed to the listeners, so those already in step (the usual case) need no
   * read of their own: one Redis round trip per batch, whatever the number of streams.
   */
  onAppend(listener: (batch?: AppendBatch) => void): () => void {
    const off = this.signal.on(listener);
    if (!this.tailer && !this.closed) void this.tail();
    return off;
  }

  private async tail(): Promise<void> {
    const tailer = openRedis(this.options.redis, { connectionName: 'tessera-feed-tail', maxRetriesPerRequest: null });
    this.tailer = tailer;
    const stream = revocationStreamKey(this.options.prefix);
    let last: string | undefined;
    while (!this.closed && this.signal.size > 0) {
      try {
        if (last === undefined) {
          const newest = (await tailer.xrevrange(stream, '+', '-', 'COUNT', 1)) as StreamItem[];
          last = newest[0]?.[0] ?? '0-0';
          // Whatever was appended before this point is read by the listeners' own catch-up.
          this.signal.emit();
        }
        const got = (await tailer.xread('BLOCK', 5_000, 'STREAMS', stream, last)) as [string, StreamItem[]][] | null;
        const items = got?.[0]?.[1] ?? [];
        if (items.length > 0) {
          const after = last;
          last = items[items.length - 1]![0];
          this.signal.emit({ after, items: this.live(items), next: last });
        }
      } catch {
        if (this.closed) break;
        // Redis away: after it returns, start again from its newest entry (and wake everyone).
        last = undefined;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    this.tailer = undefined;
    await closeRedis(tailer);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.tailer) this.tailer.disconnect();
  }
}
