import { toSeconds } from '../clock.ts';
import type { Db } from '../db/db.ts';
import type { Denylist, DenylistEntry } from './denylist.ts';
import { MAX_CLOCK_SKEW_SECONDS } from '@tessera/verifier';

/**
 * Rebuilds the revocations SQL knows about: sessions revoked, passwords changed and
 * accounts deleted, recently enough that an access token issued before could still be alive. The in-memory
 * denylist of the embedded default forgets everything on restart, and Redis without
 * persistence can too; without this, a restart would bring revoked access tokens back.
 * Used at start (seedDenylistFromSql) and whenever the Redis writer meets another server,
 * which may have come back empty (runtime.ts wires it as RedisDenylist's `reseed`).
 * (Single access-token revocations from /oauth/revoke live only in the denylist.)
 */
export async function revocationsFromSql(
  db: Db,
  now: number,
  accessTokenTtl: number,
  skewMs = MAX_CLOCK_SKEW_SECONDS * 1000,
): Promise<DenylistEntry[]> {
  const horizon = new Date(now - accessTokenTtl * 1000 - skewMs);
  const lifetime = accessTokenTtl * 1000 + skewMs;
  const sessions = await db.query<{ id: string; revoked_at: Date }>(
    'SELECT id, revoked_at FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at > $1',
    [horizon],
  );
  const users = await db.query<{ id: string; password_changed_at: Date; created_at: Date }>(
    'SELECT id, password_changed_at, created_at FROM users WHERE password_changed_at > $1 AND password_changed_at > created_at',
    [horizon],
  );
  // Deleted accounts (their sessions went with them): every token of theirs is dead.
  const deleted = await db.query<{ user_id: string; deleted_at: Date }>('SELECT user_id, deleted_at FROM deleted_users WHERE deleted_at > $1', [horizon]);
  return [
    ...deleted.map((d) => {
      const at = new Date(d.deleted_at).getTime();
      return { kind: 'user' as const, id: d.user_id, before: toSeconds(at) + 1, until: at + lifetime };
    }),
    ...sessions.map((s) => ({ kind: 'session' as const, id: s.id, until: new Date(s.revoked_at).getTime() + lifetime })),
    ...users.map((u) => {
      const changed = new Date(u.password_changed_at).getTime();
      return { kind: 'user' as const, id: u.id, before: toSeconds(changed), until: changed + lifetime };
    }),
  ];
}

/** Applies the SQL-derived revocations to a denylist; returns how many. */
export async function seedDenylistFromSql(db: Db, denylist: Denylist, now: number, accessTokenTtl: number): Promise<number> {
  const entries = await revocationsFromSql(db, now, accessTokenTtl);
  // Already durable in SQL: a store that can take them locally (the embedded log) does not log them twice.
  if (denylist.restore) {
    denylist.restore(entries);
    return entries.length;
  }
  // In parallel: with Redis down each write waits out its timeout before queueing for retry.
  const results = await Promise.allSettled(entries.map((entry) => denylist.revoke(entry)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return entries.length;
}
