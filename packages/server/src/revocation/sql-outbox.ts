// Redis mode's durable outbox: a revocation Redis did not confirm is written to SQL before
// the caller is answered, and every replica drains the table to Redis once Redis answers,
// so the revocation survives the death of the replica that took it.
import type { Db, Queryable } from '../db/db.ts';
import type { DenylistEntry } from './denylist.ts';

type Row = {
  id: string | number;
  kind: string;
  subject: string;
  not_before: string | number | null;
  until_ms: string | number;
};

function toEntry(row: Row): DenylistEntry | undefined {
  const until = Number(row.until_ms);
  if (row.kind === 'user') return { kind: 'user', id: row.subject, before: Number(row.not_before ?? 0), until };
  if (row.kind === 'session' || row.kind === 'token') return { kind: row.kind, id: row.subject, until };
  return undefined;
}

export class SqlRevocationOutbox {
  constructor(private readonly db: Db) {}

  /**
   * In the caller's transaction when given one, so the revocation commits with its state
   * change. `claimMs`: how long other replicas leave the row to this one (it is about to
   * write it to Redis itself). Returns the row's id.
   */
  async add(entry: DenylistEntry, q: Queryable = this.db, claimMs = 0): Promise<string> {
    const [row] = await q.query<{ id: string | number }>(
      `INSERT INTO revocation_outbox (kind, subject, not_before, until_ms, claimed_until)
       VALUES ($1, $2, $3, $4, CASE WHEN $5::int > 0 THEN now() + make_interval(secs => $5::int / 1000.0) END) RETURNING id`,
      [entry.kind, entry.id, entry.kind === 'user' ? entry.before : null, Math.ceil(entry.until), Math.ceil(claimMs)],
    );
    return String(row!.id);
  }

  /** Redis confirmed the row's revocation. */
  async remove(id: string): Promise<void> {
    await this.db.query('DELETE FROM revocation_outbox WHERE id = $1', [id]);
  }

  /** The replica that took the row could not deliver it: any replica may, from now on. */
  async release(id: string): Promise<void> {
    await this.db.query('UPDATE revocation_outbox SET claimed_until = NULL WHERE id = $1', [id]);
  }

  /**
   * Delivers up to `batch` pending rows and deletes them, in one transaction holding their
   * row locks: two replicas draining at once take different rows (SKIP LOCKED), and a
   * delivery that fails rolls back, leaving its rows for the next pass. Expired rows are
   * deleted undelivered. Returns the delivered entries.
   */
  async drain(deliver: (entry: DenylistEntry) => Promise<void>, now: number, batch = 100): Promise<DenylistEntry[]> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<Row>(
        `SELECT id, kind, subject, not_before, until_ms FROM revocation_outbox
         WHERE claimed_until IS NULL OR claimed_until < now() ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [batch],
      );
      if (rows.length === 0) return [];
      const delivered: DenylistEntry[] = [];
      for (const row of rows) {
        const entry = toEntry(row);
        if (!entry || entry.until <= now) continue;
        await deliver(entry);
        delivered.push(entry);
      }
      await tx.query('DELETE FROM revocation_outbox WHERE id = ANY($1::bigint[])', [rows.map((r) => String(r.id))]);
      return delivered;
    });
  }

  async pending(): Promise<number> {
    const [row] = await this.db.query<{ n: string | number }>('SELECT count(*) AS n FROM revocation_outbox');
    return Number(row?.n ?? 0);
  }
}
