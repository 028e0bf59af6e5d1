// The embedded default's log over SQL: what survives a restart (the live entries, the
// cursor positions, the trimmed mark), on both databases it runs on (embedded-log.test.ts: PGlite; embedded-log.int.test.ts: PostgreSQL).
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import type { DenylistEntry } from '../../src/revocation/denylist.ts';
import { MemoryDenylist } from '../../src/revocation/memory-denylist.ts';
import { createTestDb, type DbKind, type TestDb } from '../helpers/db.ts';

const token = (clock: ManualClock, ttlMs: number): DenylistEntry => ({ kind: 'token', id: crypto.randomUUID(), until: clock.now() + ttlMs });

export function embeddedLogContract(kind: DbKind): void {
  describe(`embedded revocation log on ${kind}`, () => {
  let testDb: TestDb;
  beforeAll(async () => {
    testDb = await createTestDb(kind);
  }, 60_000);
  afterAll(async () => testDb?.drop());

  it('restarts with the live entries, the same cursors, and a snapshot for cursors older than what was trimmed', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const first = new MemoryDenylist(clock, { db: testDb.db });
    await first.start();
    const start = (await first.feed.read(undefined, 100)).next;
    const shortLived = token(clock, 1_000);
    const kept = token(clock, 3_600_000);
    await first.revoke(shortLived);
    const afterShort = (await first.feed.read(start, 100)).next;
    await first.revoke(kept);
    const head = (await first.feed.read(start, 100)).next;
    await first.close();

    // Restarted after the short-lived entry expired: it is trimmed at load.
    clock.advance(5_000);
    const second = new MemoryDenylist(clock, { db: testDb.db });
    await second.start();
    expect(second.isRevoked({ jti: kept.id })).toBe(true);
    expect(second.isRevoked({ jti: shortLived.id })).toBe(false);

    // A cursor from before the trimmed entry: a snapshot. One after it: exactly what followed.
    const old = await second.feed.read(start, 100);
    expect(old.snapshot).toBe(true);
    expect(old.items.map((i) => i.entry.id)).toEqual([kept.id]);
    const resumed = await second.feed.read(afterShort, 100);
    expect(resumed.snapshot).toBe(false);
    expect(resumed.items.map((i) => i.entry.id)).toEqual([kept.id]);
    expect(resumed.next).toBe(head);
    expect(await second.feed.read(head, 100)).toEqual({ snapshot: false, items: [], more: false, next: head });

    // New entries continue the sequence; a cursor beyond it is unknown (snapshot).
    const next = token(clock, 3_600_000);
    await second.revoke(next);
    const after = await second.feed.read(head, 100);
    expect(after.items.map((i) => i.entry.id)).toEqual([next.id]);
    expect(Number(after.next)).toBeGreaterThan(Number(head));
    expect((await second.feed.read(String(Number(after.next) + 1000), 100)).snapshot).toBe(true);
    await second.close();

    // Everything expired and trimmed: the position is kept, so the newest cursor stays valid.
    clock.advance(7_200_000);
    const third = new MemoryDenylist(clock, { db: testDb.db });
    await third.start();
    const empty = await third.feed.read(after.next, 100);
    expect(empty).toEqual({ snapshot: false, items: [], more: false, next: after.next });
    await third.close();
  });
  });
}
