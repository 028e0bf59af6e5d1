// The feed's log in the embedded default (no Redis): one process, so the log lives in its
// memory and reads never leave it; with a database, every entry is also a row of
// revocation_log, whose sequence is the cursor. A restart reloads the live rows: token
// revocations survive it, and a cursor handed out before it still means the same place.
import type { Clock } from '../clock.ts';
import type { Db } from '../db/db.ts';
import type { DenylistEntry } from './denylist.ts';
import { AppendSignal, type AppendBatch, type LogItem, type LogPage, type RevocationLog } from './feed.ts';

type Row = {
  seq: string | number;
  kind: string;
  subject: string;
  not_before: string | number | null;
  until_ms: string | number;
};

function fromRow(row: Row): { seq: number; entry: DenylistEntry } | undefined {
  const seq = Number(row.seq);
  const until = Number(row.until_ms);
  if (row.kind === 'user') return { seq, entry: { kind: 'user', id: row.subject, before: Number(row.not_before ?? 0), until } };
  if (row.kind === 'session' || row.kind === 'token') return { seq, entry: { kind: row.kind, id: row.subject, until } };
  return undefined;
}

const CURSOR = /^\d{1,15}$/;

export class EmbeddedRevocationLog implements RevocationLog {
  private items: { seq: number; entry: DenylistEntry }[] = [];
  /** The newest position ever handed out. */
  private head = 0;
  /** Every entry up to here is gone from the log: an older cursor gets a snapshot. */
  private trimmedThrough = 0;
  /** Appends one at a time, so cursors are handed out in the order entries become readable. */
  private appending: Promise<unknown> = Promise.resolve();
  private readonly signal = new AppendSignal();

  constructor(
    private readonly clock: Clock,
    private readonly db?: Db,
  ) {}

  /** Loads the live rows; returns their entries, for the denylist to apply. */
  async load(): Promise<DenylistEntry[]> {
    if (!this.db) return [];
    await this.trim();
    const [state] = await this.db.query<{ trimmed_through: string | number; max_seq: string | number | null }>(
      'SELECT trimmed_through, (SELECT max(seq) FROM revocation_log) AS max_seq FROM revocation_log_state',
    );
    this.trimmedThrough = Number(state?.trimmed_through ?? 0);
    this.head = Math.max(this.trimmedThrough, Number(state?.max_seq ?? 0));
    const rows = await this.db.query<Row>('SELECT seq, kind, subject, not_before, until_ms FROM revocation_log ORDER BY seq');
    this.items = rows.map(fromRow).filter((r) => r !== undefined);
    return this.items.map((i) => i.entry);
  }

  async append(entry: DenylistEntry): Promise<void> {
    const next = this.appending.then(async () => {
      let seq: number;
      if (this.db) {
        const [row] = await this.db.query<{ seq: string | number }>(
          'INSERT INTO revocation_log (kind, subject, not_before, until_ms) VALUES ($1, $2, $3, $4) RETURNING seq',
          [entry.kind, entry.id, entry.kind === 'user' ? entry.before : null, Math.ceil(entry.until)],
        );
        seq = Number(row!.seq);
      } else {
        seq = this.head + 1;
      }
      this.items.push({ seq, entry });
      this.head = Math.max(this.head, seq);
    });
    this.appending = next.catch(() => {});
    await next;
    this.signal.emit();
  }

  /** Forgets expired entries (and their rows). */
  async trim(): Promise<void> {
    const now = this.clock.now();
    const dropped = this.items.filter((i) => i.entry.until <= now);
    if (dropped.length > 0) {
      this.items = this.items.filter((i) => i.entry.until > now);
      this.trimmedThrough = Math.max(this.trimmedThrough, ...dropped.map((i) => i.seq));
    }
    if (!this.db) return;
    await this.db.transaction(async (tx) => {
      const [gone] = await tx.query<{ max_seq: string | number | null }>(
        'WITH gone AS (DELETE FROM revocation_log WHERE until_ms <= $1 RETURNING seq) SELECT max(seq) AS max_seq FROM gone',
        [now],
      );
      if (gone?.max_seq !== null && gone?.max_seq !== undefined) {
        await tx.query('UPDATE revocation_log_state SET trimmed_through = greatest(trimmed_through, $1)', [Number(gone.max_seq)]);
      }
    });
  }

  async read(after: string | undefined, limit: number): Promise<LogPage> {
    const cursor = after !== undefined && CURSOR.test(after) ? Number(after) : undefined;
    const snapshot = cursor === undefined || cursor < this.trimmedThrough || cursor > this.head;
    const from = snapshot ? 0 : cursor;
    const now = this.clock.now();
    const items: LogItem[] = [];
    let last: number | undefined;
    let more = false;
    for (const item of this.items) {
      if (item.seq <= from) continue;
      if (items.length >= limit) {
        more = true;
        break;
      }
      last = item.seq;
      if (item.entry.until > now) items.push({ cursor: String(item.seq), entry: item.entry });
    }
    return { snapshot, items, more, next: String(more && last !== undefined ? last : this.head) };
  }

  onAppend(listener: (batch?: AppendBatch) => void): () => void {
    return this.signal.on(listener);
  }
}
