// What one batch of operations cost each component, read from outside the processes: the
// replica's CPU from /proc, its PostgreSQL backends' CPU (found by application_name), the
// WAL records that touched the bench's own schema (pg_walinspect), and the private Redis's
// INFO (commandstats, cpu, memory). Each meter is a snapshot; `diff` of two is the cost.
import pg from 'pg';
import { cpuSecondsOf } from '../lib/process.ts';

/** CPU seconds of a set of pids; pids that are gone count as what they had when last read. */
export class PidCpu {
  private readonly last = new Map<number, number>();

  read(pids: readonly number[]): Map<number, number> {
    for (const pid of pids) {
      try {
        this.last.set(pid, cpuSecondsOf(pid));
      } catch {
        // gone: keep the last reading
      }
    }
    return new Map(this.last);
  }
}

/** CPU seconds used between two readings of PidCpu (a pid born meanwhile counts from zero). */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let used = 0;
  for (const [pid, now] of after) used += now - (before.get(pid) ?? 0);
  return used;
}

export interface WalCost {
  /** Bytes of WAL records touching the schema's relations, plus their transactions' commit records. */
  bytes: number;
  /** Full-page-image bytes within `bytes` (first change of a page after a checkpoint). */
  fpiBytes: number;
  /** Heap rows inserted / updated (HOT or not) / deleted, per table. */
  rows: Record<string, { ins: number; upd: number; del: number }>;
  /** Whole-cluster WAL in the same interval (every database and user of the shared server). */
  clusterBytes: number;
}

/**
 * The bench's share of PostgreSQL's WAL between two LSNs. The shared server has other users,
 * so pg_current_wal_lsn() alone counts their writes too: pg_walinspect lists the records, and
 * those whose block references name a relation of the bench schema (tables, indexes, TOAST)
 * are ours, with the commit records of the same transactions.
 */
export class PostgresMeter {
  private relations = new Map<string, string>(); // "dboid/relfilenode" → relation name
  private tables = new Set<string>();

  constructor(
    private readonly db: pg.Client,
    private readonly schema: string,
  ) {}

  static async open(url: string, schema: string): Promise<PostgresMeter> {
    const db = new pg.Client({ connectionString: url, application_name: `${schema}-meter` });
    await db.connect();
    // Inside the bench's schema, so it goes when the schema is dropped.
    await db.query(`CREATE EXTENSION IF NOT EXISTS pg_walinspect SCHEMA "${schema}"`);
    return new PostgresMeter(db, schema);
  }

  /** Relations of the schema, read again after migrations (relfilenodes change on rewrite). */
  async mapRelations(): Promise<void> {
    const { rows } = await this.db.query<{ key: string; name: string; kind: string }>(
      `SELECT (SELECT oid FROM pg_database WHERE datname = current_database()) || '/' || pg_relation_filenode(c.oid) AS key,
              COALESCE(t.relname, c.relname) AS name, c.relkind AS kind
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_class t ON t.reltoastrelid = c.oid OR t.oid = (SELECT indrelid FROM pg_index WHERE indexrelid = c.oid)
        WHERE n.nspname = $1 AND pg_relation_filenode(c.oid) IS NOT NULL`,
      [this.schema],
    );
    this.relations = new Map(rows.map((r) => [r.key, r.name]));
    this.tables = new Set(rows.filter((r) => r.kind === 'r').map((r) => r.key));
  }

  /** The flushed end of the WAL (what pg_walinspect can read up to; commits are flushed before they return). */
  async lsn(): Promise<string> {
    const { rows } = await this.db.query<{ lsn: string }>('SELECT pg_current_wal_flush_lsn()::text AS lsn');
    return rows[0]!.lsn;
  }

  /** Backend pids of the connections named `applicationName`. */
  async backends(applicationName: string): Promise<number[]> {
    const { rows } = await this.db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    return rows.map((r) => r.pid);
  }

  async walBetween(start: string, end: string): Promise<WalCost> {
    const { rows: total } = await this.db.query<{ bytes: string }>('SELECT pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::bigint AS bytes', [start, end]);
    // pg_walinspect refuses an empty range (its start would be the flushed end).
    if (Number(total[0]!.bytes) <= 0) return { bytes: 0, fpiBytes: 0, rows: {}, clusterBytes: 0 };
    const { rows } = await this.db.query<{ xid: string; rm: string; type: string; len: number; fpi: number; refs: string | null }>(
      `SELECT xid::text AS xid, resource_manager AS rm, record_type AS type, record_length AS len, fpi_length AS fpi, block_ref AS refs
         FROM "${this.schema}".pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn)`,
      [start, end],
    );
    const ours = new Set<string>();
    const cost: WalCost = { bytes: 0, fpiBytes: 0, rows: {}, clusterBytes: Number(total[0]!.bytes) };
    const refPattern = /rel \d+\/(\d+\/\d+)/g;
    for (const r of rows) {
      const keys = [...(r.refs ?? '').matchAll(refPattern)].map((m) => m[1]!);
      const mine = keys.filter((k) => this.relations.has(k));
      if (mine.length === 0) continue;
      if (r.xid !== '0') ours.add(r.xid);
      cost.bytes += r.len;
      cost.fpiBytes += r.fpi;
      const table = mine.find((k) => this.tables.has(k));
      if (table === undefined || (r.rm !== 'Heap' && r.rm !== 'Heap2')) continue;
      const name = this.relations.get(table)!;
      const counts = (cost.rows[name] ??= { ins: 0, upd: 0, del: 0 });
      if (/^(INSERT|MULTI_INSERT)/.test(r.type)) counts.ins++;
      else if (/UPDATE/.test(r.type)) counts.upd++;
      else if (/^DELETE/.test(r.type)) counts.del++;
    }
    for (const r of rows) if (r.rm === 'Transaction' && ours.has(r.xid)) cost.bytes += r.len;
    return cost;
  }

  /** On-disk bytes per row of a table of the schema (heap, indexes, TOAST ÷ rows). */
  async rowBytes(table: string): Promise<number> {
    const { rows } = await this.db.query<{ bytes: string; n: string }>(
      `SELECT pg_total_relation_size(format('%I.%I', $1::text, $2::text)) AS bytes, (SELECT count(*) FROM "${this.schema}"."${table}") AS n`,
      [this.schema, table],
    );
    return Number(rows[0]!.bytes) / Math.max(1, Number(rows[0]!.n));
  }

  async close(): Promise<void> {
    await this.db.end();
  }
}

export interface RedisInfo {
  calls: Record<string, number>;
  cpuSeconds: number;
  usedMemory: number;
}

/** INFO of the private redis-server: every command and CPU second in it is the bench's. */
export function parseRedisInfo(text: string): RedisInfo {
  const calls: Record<string, number> = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]!] = Number(m[2]);
  const num = (key: string) => Number(new RegExp(`^${key}:([\\d.]+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { calls, cpuSeconds: num('used_cpu_sys') + num('used_cpu_user'), usedMemory: num('used_memory') };
}

export function redisDiff(before: RedisInfo, after: RedisInfo): { calls: Record<string, number>; commands: number; cpuSeconds: number; memory: number } {
  const calls: Record<string, number> = {};
  let commands = 0;
  for (const [cmd, n] of Object.entries(after.calls)) {
    if (cmd === 'info') continue; // the meter's own reads
    const d = n - (before.calls[cmd] ?? 0);
    if (d > 0) {
      calls[cmd] = d;
      commands += d;
    }
  }
  return { calls, commands, cpuSeconds: after.cpuSeconds - before.cpuSeconds, memory: after.usedMemory - before.usedMemory };
}
