// One small query interface over node-postgres and PGlite, so every store is written
// once in plain SQL and runs on both.

export type Row = Record<string, unknown>;

export type LockedResult<T> = { acquired: true; value: T } | { acquired: false };

/** The lock statements of Db.withAdvisoryLock: a 32-bit class id, and the schema as the object id. */
export const ADVISORY_LOCK_SQL = {
  tryLock: 'SELECT pg_try_advisory_lock($1::int, hashtext(current_schema())) AS locked',
  lock: 'SELECT pg_advisory_lock($1::int, hashtext(current_schema())) IS NOT NULL AS locked',
  unlock: 'SELECT pg_advisory_unlock($1::int, hashtext(current_schema())) AS unlocked',
};

export interface Queryable {
  query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  /** Runs `work` in one transaction; rolls back if it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `work` while this process holds the session-level advisory lock (`classId`, the
   * current schema): one holder at a time across every replica of a deployment, and two
   * deployments in different schemas of one database do not block each other. Without
   * `wait`, answers `{ acquired: false }` at once when someone else holds it. The lock lives
   * on a connection of its own, so `work` runs its statements on the pool as usual, each in
   * its own short transaction; if the process dies, PostgreSQL releases the lock with the
   * connection.
   */
  withAdvisoryLock<T>(classId: number, work: () => Promise<T>, options?: { wait?: boolean }): Promise<LockedResult<T>>;
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
  readonly kind: 'postgres' | 'pglite';
}
