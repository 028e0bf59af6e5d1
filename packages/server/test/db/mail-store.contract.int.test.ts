// The mail-store contract on PostgreSQL, and what only PostgreSQL (several replicas) can show.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxStore } from '../../src/mail/outbox-store.ts';
import { createTestDb, type TestDb } from '../helpers/db.ts';
import { CONTEXT, mailStoreContract, MINUTE } from './mail-store.contract.ts';

mailStoreContract('postgres');

describe('the outbox on PostgreSQL with several replicas claiming at once', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb('postgres');
  });
  afterAll(() => t.drop());

  it('hands every mail to exactly one replica', async () => {
    const now = new Date();
    const total = 60;
    for (let i = 0; i < total; i++) {
      await outboxStore.enqueue(t.db, { kind: 'email_change_notice', userId: null, recipient: `r${i}@example.com`, context: CONTEXT, now, expiresAt: new Date(now.getTime() + MINUTE) });
    }
    const replicas = [t.db, t.openAnother(), t.openAnother(), t.openAnother()];
    const claimedBy = await Promise.all(
      replicas.map(async (db) => {
        const mine: number[] = [];
        for (;;) {
          const claimed = await outboxStore.claimNext(db, { now, leaseUntil: new Date(now.getTime() + MINUTE), claim: crypto.randomUUID() });
          if (!claimed) return mine;
          mine.push(claimed.seq);
          await outboxStore.finish(db, claimed, now, 'sent');
        }
      }),
    );
    const all = claimedBy.flat();
    console.log(`claims per replica: ${claimedBy.map((c) => c.length).join(', ')}`);
    expect(all).toHaveLength(total);
    expect(new Set(all).size).toBe(total);
  });
});
