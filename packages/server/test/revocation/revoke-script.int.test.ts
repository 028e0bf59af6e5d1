// The Lua half of the revocation model: whatever sequence of writes REVOKE_SCRIPT receives
// for one subject, in a real Redis, the stored value is what mergeEntries (TypeScript, used
// by every mirror, the outbox and the feed) makes of the same writes.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { denylistKey, mergeEntries, parseDenylistEntry, type DenylistEntry } from '@tessera/verifier/internal';
import { ManualClock } from '../../src/clock.ts';
import { RedisEntryWriter } from '../../src/revocation/redis-writer.ts';
import { adminClient, deleteKeys, REDIS_URL, uniquePrefix } from './redis-kit.ts';

describe('REVOKE_SCRIPT merges like mergeEntries', () => {
  const prefix = uniquePrefix('revoke-script');
  const admin = adminClient();
  const clock = new ManualClock(Date.now());
  const writer = new RedisEntryWriter({ redis: REDIS_URL, prefix, clock, writeTimeoutMs: 5_000 });
  writer.open();

  afterAll(async () => {
    await deleteKeys(admin, prefix);
    await writer.close();
    admin.disconnect();
  });

  const now = clock.now();
  // Whole milliseconds: the Redis form rounds `until` up (PXAT), tested in the verifier.
  const untilArb = fc.integer({ min: now + 60_000, max: now + 3_600_000 });
  const beforeArb = fc.integer({ min: 1_700_000_000, max: 1_900_000_000 });
  const writes = fc
    .tuple(fc.constantFrom<DenylistEntry['kind']>('session', 'token', 'user'), fc.integer({ min: 0, max: 1e9 }))
    .chain(([kind, n]) =>
      fc.array<DenylistEntry>(
        kind === 'user'
          ? fc.record({ kind: fc.constant('user' as const), id: fc.constant(`u${n}`), before: beforeArb, until: untilArb })
          : fc.record({ kind: fc.constant(kind), id: fc.constant(`x${n}`), until: untilArb }),
        { minLength: 1, maxLength: 5 },
      ),
    );

  it('stores the forward-only merge of every write, in any order', async () => {
    let subject = 0;
    await fc.assert(
      fc.asyncProperty(writes, async (entries) => {
        // A fresh subject per run: earlier runs must not leak into this one.
        const run = entries.map((e) => ({ ...e, id: `${e.id}-${++subject}` })) as DenylistEntry[];
        const id = run[0]!.id;
        const same = run.map((e) => ({ ...e, id })) as DenylistEntry[];
        for (const entry of same) await writer.write(entry);
        const stored = parseDenylistEntry(await admin.get(denylistKey(prefix, same[0]!)));
        expect(stored).toEqual(same.reduce((a, b) => mergeEntries(a, b)));
      }),
      { numRuns: 60 },
    );
  });
});
