// Counters of consecutive unsuccessful attempts with an exponential back-off window, for
// the per-account throttling of logins and password checks. One interface, two stores:
// memory (one replica, the embedded default) and Redis (shared by every replica).

/** How one kind of key backs off. All durations in milliseconds. */
export interface BackoffPolicy {
  /** The attempt with this number (counted since the last success) opens the first window. */
  threshold: number;
  /** Length of the first window; each further attempt doubles it. */
  baseMs: number;
  /** Longest window: whatever an attacker does, the real user waits at most this long. */
  maxMs: number;
  /** A key quiet this long (after its window ends) starts again from zero. */
  memoryMs: number;
}

export interface Attempt {
  key: string;
  policy: BackoffPolicy;
}

export type AttemptResult = { allowed: true } | { allowed: false; retryAfterMs: number };

export interface AttemptOptions {
  /**
   * false: the same atomic check, but an allowed attempt changes nothing (a client secret
   * that matched: successes never use the budget). Same code path and, in Redis, the same
   * script either way, so a refusal takes the same time whether it would have counted.
   */
  count?: boolean;
}

export interface AttemptStore {
  /**
   * Atomically, over every key: when one of them is inside a back-off window, refuses and
   * changes nothing (a refused attempt never lengthens the wait, so hammering cannot lock
   * the account for longer than `maxMs`). Otherwise counts the attempt on every key and
   * opens a window on those that reached their threshold. Attempts are counted before the
   * password is checked, so parallel requests cannot slip past the threshold together;
   * `reset` after a success takes the count back. With `count: false`, refuses in the same
   * way but never counts.
   */
  attempt(attempts: readonly Attempt[], now: number, options?: AttemptOptions): Promise<AttemptResult>;
  /** Forgets the keys (after a success). */
  reset(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export interface AttemptRecord {
  /** Attempts since the last success or since the record was forgotten. */
  count: number;
  /** End of the current back-off window (0: none). */
  blockedUntil: number;
  /** When the record is forgotten. */
  forgetAt: number;
}

/** The window opened by the `count`-th attempt, or 0. Shared by both stores (the Lua mirrors it). */
export function windowFor(count: number, policy: BackoffPolicy): number {
  if (count < policy.threshold) return 0;
  // 2 ** 60 is finite and far above any maxMs, so no overflow to Infinity/NaN.
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(count - policy.threshold, 60));
}

/** The next state of a record after an allowed attempt. */
export function nextRecord(known: AttemptRecord | undefined, policy: BackoffPolicy, now: number): AttemptRecord {
  const count = (known && now < known.forgetAt ? known.count : 0) + 1;
  const window = windowFor(count, policy);
  const blockedUntil = window > 0 ? now + window : 0;
  return { count, blockedUntil, forgetAt: Math.max(now, blockedUntil) + policy.memoryMs };
}

/** At most this many keys are held in memory; the oldest go first (an attacker inventing emails cannot grow us). */
const MEMORY_MAX_KEYS = 100_000;

export class MemoryAttemptStore implements AttemptStore {
  private readonly records = new Map<string, AttemptRecord>();
  private readonly pruneTimer: NodeJS.Timeout;
  /** The caller's clock, as last seen: records are timed by it, not by Date.now(). */
  private lastNow = 0;

  constructor(private readonly maxKeys = MEMORY_MAX_KEYS) {
    this.pruneTimer = setInterval(() => this.prune(this.lastNow), 60_000);
    this.pruneTimer.unref();
  }

  async attempt(attempts: readonly Attempt[], now: number, options: AttemptOptions = {}): Promise<AttemptResult> {
    this.lastNow = Math.max(this.lastNow, now);
    let wait = 0;
    for (const { key } of attempts) {
      const record = this.records.get(key);
      if (record && record.blockedUntil > now) wait = Math.max(wait, record.blockedUntil - now);
    }
    if (wait > 0) return { allowed: false, retryAfterMs: wait };
    if (options.count === false) return { allowed: true };
    for (const { key, policy } of attempts) {
      const next = nextRecord(this.records.get(key), policy, now);
      // Re-inserting moves the key to the end: the Map's order is least recently attempted first.
      this.records.delete(key);
      this.records.set(key, next);
    }
    while (this.records.size > this.maxKeys) {
      const oldest = this.records.keys().next().value;
      if (oldest === undefined) break;
      this.records.delete(oldest);
    }
    return { allowed: true };
  }

  async reset(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.records.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.pruneTimer);
  }

  /** Number of keys held (tests). */
  get size(): number {
    return this.records.size;
  }

  private prune(now: number): void {
    for (const [key, record] of this.records) if (record.forgetAt <= now) this.records.delete(key);
  }
}
