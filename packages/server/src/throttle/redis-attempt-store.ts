// The attempt store shared by every replica: one Redis hash per key, read and updated by
// one Lua script so that the check, the count and the window are a single atomic step (two
// replicas answering the same attacker at once cannot both let the threshold-th attempt by).
import type { RedisClient } from '@tessera/verifier/internal';
import type { Attempt, AttemptOptions, AttemptResult, AttemptStore } from './attempt-store.ts';

/**
 * KEYS: one hash per key, fields n (count), b (blocked until), f (forget at).
 * ARGV[1]: now (ms); ARGV[2]: '1' to count an allowed attempt, '0' to only check (the
 * same script either way, so refusals take the same time); then, per key, threshold,
 * baseMs, maxMs, memoryMs.
 * Mirrors `nextRecord`/`windowFor` in attempt-store.ts: the contract suite runs both.
 * Numbers are formatted with %d because Lua's default conversion may use an exponent.
 */
const ATTEMPT_SCRIPT = `
local now = tonumber(ARGV[1])
local wait = 0
for i = 1, #KEYS do
  local blocked = tonumber(redis.call('HGET', KEYS[i], 'b') or '0') or 0
  if blocked - now > wait then wait = blocked - now end
end
if wait > 0 then return {0, wait} end
if ARGV[2] ~= '1' then return {1, 0} end
for i = 1, #KEYS do
  local a = (i - 1) * 4
  local threshold = tonumber(ARGV[a + 3])
  local base = tonumber(ARGV[a + 4])
  local max = tonumber(ARGV[a + 5])
  local memory = tonumber(ARGV[a + 6])
  local known = redis.call('HMGET', KEYS[i], 'n', 'f')
  local count = 0
  if known[1] and known[2] and now < (tonumber(known[2]) or 0) then count = tonumber(known[1]) or 0 end
  count = count + 1
  local blocked = 0
  if count >= threshold then
    blocked = now + math.min(max, base * 2 ^ math.min(count - threshold, 60))
  end
  local forget = math.max(now, blocked) + memory
  redis.call('HSET', KEYS[i], 'n', string.format('%d', count), 'b', string.format('%d', blocked), 'f', string.format('%d', forget))
  redis.call('PEXPIRE', KEYS[i], string.format('%d', math.max(1, forget - now)))
end
return {1, 0}
`;

export class RedisAttemptStore implements AttemptStore {
  /**
   * @param redis a connection owned by the caller (closed by it, not by `close()`).
   * @param prefix prepended to every key, e.g. `tessera:throttle:`.
   */
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async attempt(attempts: readonly Attempt[], now: number, options: AttemptOptions = {}): Promise<AttemptResult> {
    if (attempts.length === 0) return { allowed: true };
    const keys = attempts.map((a) => this.prefix + a.key);
    const args = [String(Math.floor(now)), options.count === false ? '0' : '1'];
    for (const { policy } of attempts) {
      args.push(...[policy.threshold, policy.baseMs, policy.maxMs, policy.memoryMs].map((n) => String(Math.floor(n))));
    }
    const [allowed, wait] = (await this.redis.eval(ATTEMPT_SCRIPT, keys.length, ...keys, ...args)) as [number, number];
    return allowed === 1 ? { allowed: true } : { allowed: false, retryAfterMs: wait };
  }

  async reset(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.redis.del(...keys.map((k) => this.prefix + k));
  }

  async close(): Promise<void> {}
}
