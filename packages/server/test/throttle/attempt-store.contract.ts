// The contract (imported by attempt-store.contract.test.ts for memory, .int.test.ts for Redis). One behaviour, every implementation: the memory attempt store (embedded default) and the
// Redis one (every replica) must count, open windows and forget in exactly the same way.
// Time is the `now` argument, so nothing here sleeps.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { windowFor, type AttemptStore, type BackoffPolicy } from '../../src/throttle/attempt-store.ts';

export const policy: BackoffPolicy = { threshold: 3, baseMs: 1_000, maxMs: 10_000, memoryMs: 60_000 };
const strict: BackoffPolicy = { ...policy, threshold: 2 };
export const T0 = Date.UTC(2026, 0, 1);

export interface Harness {
  store: AttemptStore;
  close(): Promise<void>;
}

export function attemptStoreContract(name: string, factory: () => Promise<Harness>): void {
  describe(`AttemptStore contract: ${name}`, () => {
    let h: Harness;
    beforeEach(async () => {
      h = await factory();
    });
    afterEach(async () => {
      await h.close();
    });

    const hit = (key: string, now: number, p = policy) => h.store.attempt([{ key, policy: p }], now);

    it('allows attempts below the threshold, and the threshold-th opens the first window', async () => {
      expect(await hit('a', T0)).toEqual({ allowed: true });
      expect(await hit('a', T0)).toEqual({ allowed: true });
      expect(await hit('a', T0)).toEqual({ allowed: true });
      expect(await hit('a', T0)).toEqual({ allowed: false, retryAfterMs: 1_000 });
      expect(await hit('a', T0 + 400)).toEqual({ allowed: false, retryAfterMs: 600 });
    });

    it('doubles the window with every attempt past the threshold, up to maxMs', async () => {
      let now = T0;
      await hit('a', now);
      await hit('a', now);
      const windows: number[] = [];
      // Attempts 3 to 9, each made as soon as the previous window ends.
      for (let n = 3; n <= 9; n++) {
        expect(await hit('a', now)).toEqual({ allowed: true });
        const refused = await hit('a', now);
        expect(refused.allowed).toBe(false);
        windows.push(refused.allowed ? 0 : refused.retryAfterMs);
        now += windows.at(-1)!;
      }
      expect(windows).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
      expect(windows).toEqual([3, 4, 5, 6, 7, 8, 9].map((n) => windowFor(n, policy)));
    });

    it('count: false refuses inside a window like a counted attempt, and otherwise changes nothing', async () => {
      const check = (now: number) => h.store.attempt([{ key: 'a', policy }], now, { count: false });
      for (let i = 0; i < 10; i++) expect(await check(T0)).toEqual({ allowed: true });
      // Ten checks counted nothing: the threshold-th counted attempt still opens the first window.
      for (let i = 0; i < 3; i++) expect(await hit('a', T0)).toEqual({ allowed: true });
      expect(await check(T0 + 250)).toEqual({ allowed: false, retryAfterMs: 750 });
      expect(await check(T0 + 1_000)).toEqual({ allowed: true });
      // Nor did they lengthen anything: the next counted attempt opens only the second window.
      expect(await hit('a', T0 + 1_000)).toEqual({ allowed: true });
      expect(await hit('a', T0 + 1_000)).toEqual({ allowed: false, retryAfterMs: 2_000 });
    });

    it('counted and uncounted attempts in parallel: exactly `threshold` counted ones get through', async () => {
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => h.store.attempt([{ key: 'mixed', policy }], T0, { count: i % 2 === 0 }).then((r) => ({ counted: i % 2 === 0, r }))),
      );
      expect(results.filter(({ counted, r }) => counted && r.allowed)).toHaveLength(policy.threshold);
    });

    it('a refused attempt changes nothing: hammering never lengthens the wait', async () => {
      for (let i = 0; i < 3; i++) await hit('a', T0);
      for (let i = 0; i < 50; i++) expect((await hit('a', T0 + i * 10)).allowed).toBe(false);
      // Still the first window (1 s), and the next one is only the second (2 s).
      expect(await hit('a', T0 + 1_000)).toEqual({ allowed: true });
      expect(await hit('a', T0 + 1_000)).toEqual({ allowed: false, retryAfterMs: 2_000 });
    });

    it('reset forgets the count and any window', async () => {
      for (let i = 0; i < 3; i++) await hit('a', T0);
      expect((await hit('a', T0)).allowed).toBe(false);
      await h.store.reset(['a']);
      expect(await hit('a', T0)).toEqual({ allowed: true });
      expect(await hit('a', T0)).toEqual({ allowed: true });
      await h.store.reset(['never-seen']);
    });

    it('forgets a key left quiet for memoryMs after its window', async () => {
      for (let i = 0; i < 3; i++) await hit('a', T0);
      const windowEnd = T0 + 1_000;
      expect((await hit('a', windowEnd + policy.memoryMs - 1)).allowed).toBe(true);
      // That attempt was the 4th: a window is open again.
      const quietAfter = windowEnd + policy.memoryMs - 1 + 2_000;
      expect((await hit('a', quietAfter - 1)).allowed).toBe(false);
      // Long enough after it: counted from zero.
      expect(await hit('a', quietAfter + policy.memoryMs)).toEqual({ allowed: true });
      expect(await hit('a', quietAfter + policy.memoryMs)).toEqual({ allowed: true });
    });

    it('keeps keys apart', async () => {
      for (let i = 0; i < 3; i++) await hit('a', T0);
      expect((await hit('a', T0)).allowed).toBe(false);
      expect(await hit('b', T0)).toEqual({ allowed: true });
    });

    it('several keys at once: refused when any is in a window (longest wait), counting none of them', async () => {
      const both = (now: number) =>
        h.store.attempt(
          [
            { key: 'pair', policy: strict },
            { key: 'account', policy },
          ],
          now,
        );
      expect(await both(T0)).toEqual({ allowed: true });
      expect(await both(T0)).toEqual({ allowed: true }); // pair reaches its threshold: 1 s window
      expect(await both(T0)).toEqual({ allowed: false, retryAfterMs: 1_000 });
      // Refused, so the account was not counted: two more attempts on it alone are fine.
      expect(await hit('account', T0)).toEqual({ allowed: true });
      expect(await hit('account', T0)).toEqual({ allowed: false, retryAfterMs: 1_000 });
      // Both in a window: the longer one is reported.
      expect(await both(T0 + 500)).toEqual({ allowed: false, retryAfterMs: 500 });
    });

    it('is atomic: of 30 parallel attempts exactly `threshold` get through', async () => {
      const results = await Promise.all(Array.from({ length: 30 }, () => hit('burst', T0)));
      expect(results.filter((r) => r.allowed)).toHaveLength(policy.threshold);
    });

    it('an empty attempt list is allowed', async () => {
      expect(await h.store.attempt([], T0)).toEqual({ allowed: true });
    });
  });
}

