// The session purge over a large backlog (`node --import tsx bench/purge.ts [sessions]
// [tokens-per-session]`): how fast it deletes, and how long it holds any lock, against the
// baseline of deleting the same backlog in one statement per table (the fastest possible,
// and the longest lock). Meanwhile live sessions keep rotating, as refreshes would, and
// their latency is recorded: the purge must not stall them. Writes bench/RESULTS-purge.md.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from '../packages/server/src/db/db.ts';
import { migrate } from '../packages/server/src/db/migrate.ts';
import { createPostgresDb, quoteIdent } from '../packages/server/src/db/postgres.ts';
import { DEFAULT_PURGE_BATCH, runPurge, type PurgeReport } from '../packages/server/src/sessions/purge.ts';
import { sessionStore } from '../packages/server/src/sessions/session-store.ts';
import { fmt, percentile } from './lib/stats.ts';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SESSIONS = Number(process.argv[2] ?? 100_000);
const TOKENS = Number(process.argv[3] ?? 10);
const LIVE_CHAINS = 4;
const RETENTION_SECONDS = 30 * 24 * 3600;
const DAY = 86_400_000;

const log = (message: string) => process.stderr.write(`[purge bench] ${message}\n`);

interface Schema {
  db: Db;
  drop(): Promise<void>;
}

async function freshSchema(): Promise<Schema> {
  const name = `bench_purge_${crypto.randomBytes(4).toString('hex')}`;
  const admin = createPostgresDb({ url: DATABASE_URL, poolSize: 1 });
  await admin.exec(`CREATE SCHEMA ${quoteIdent(name)}`);
  const db = createPostgresDb({ url: DATABASE_URL, schema: name, poolSize: 8 });
  await migrate(db);
  return {
    db,
    async drop() {
      await db.close();
      await admin.exec(`DROP SCHEMA ${quoteIdent(name)} CASCADE`);
      await admin.close();
    },
  };
}

/** SESSIONS sessions dead for 40 days (half revoked, half expired), TOKENS token rows each (all but the last rotated and still sealed). */
async function createBacklog(db: Db, now: number): Promise<{ userId: string; rows: number }> {
  const userId = crypto.randomUUID();
  const old = new Date(now - 40 * DAY);
  await db.query(`INSERT INTO users (id, email, password_hash, created_at, password_changed_at) VALUES ($1, $2, 'x', $3, $3)`, [userId, `${userId}@bench.example`, old]);
  await db.query(
    `INSERT INTO sessions (id, user_id, client_id, remember, created_at, last_used_at, idle_expires_at, absolute_expires_at, user_agent, ip, revoked_at, revoked_reason)
     SELECT gen_random_uuid(), $1, 'tessera', true, $2, $2, $2::timestamptz + interval '1 hour', $2::timestamptz + interval '1 day', 'bench/1.0', '203.0.113.1',
            CASE WHEN i % 2 = 0 THEN $2::timestamptz END, CASE WHEN i % 2 = 0 THEN 'logout' END
     FROM generate_series(1, $3) AS i`,
    [userId, old, SESSIONS],
  );
  await db.query(
    `INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at, rotated_at, successor_sealed)
     SELECT md5(s.id::text || ':' || g), s.id, g, $1, CASE WHEN g < $2 - 1 THEN $1::timestamptz END, CASE WHEN g < $2 - 1 THEN repeat('s', 100) END
     FROM sessions s, generate_series(0, $2 - 1) AS g`,
    [old, TOKENS],
  );
  await db.exec('ANALYZE sessions; ANALYZE refresh_tokens');
  return { userId, rows: SESSIONS * (TOKENS + 1) };
}

/** Live sessions rotating back to back (the refresh statement), until stopped; their latencies. */
function rotateLiveSessions(db: Db, userId: string, graceCutoff: () => Date) {
  const latencies: number[] = [];
  let running = true;
  const chain = async () => {
    const sessionId = crypto.randomUUID();
    const now = new Date();
    await db.query(
      `INSERT INTO sessions (id, user_id, client_id, remember, created_at, last_used_at, idle_expires_at, absolute_expires_at)
       VALUES ($1, $2, 'tessera', true, $3, $3, $3::timestamptz + interval '7 days', $3::timestamptz + interval '30 days')`,
      [sessionId, userId, now],
    );
    let hash = crypto.randomBytes(16).toString('hex');
    await sessionStore.insertToken(db, { tokenHash: hash, sessionId, generation: 0, issuedAt: now });
    while (running) {
      const next = crypto.randomBytes(16).toString('hex');
      const started = performance.now();
      const at = new Date();
      const rotated = await sessionStore.rotateIfCurrent(db, {
        oldHash: hash, newHash: next, successorSealed: 'sealed', now: at, idleExpiresAt: new Date(at.getTime() + 7 * DAY), graceCutoff: graceCutoff(),
      });
      latencies.push(performance.now() - started);
      if (!rotated) throw new Error('a live session failed to rotate during the purge');
      hash = next;
    }
  };
  const done = Promise.all(Array.from({ length: LIVE_CHAINS }, chain));
  return {
    async stop() {
      running = false;
      await done;
      return latencies;
    },
  };
}

const latencyLine = (l: number[]) => `p50 ${fmt(percentile(l, 50))} ms · p99 ${fmt(percentile(l, 99))} ms · max ${fmt(Math.max(...l))} ms (${l.length} rotations)`;

async function countRows(db: Db): Promise<number> {
  const [row] = await db.query<{ n: number }>('SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM refresh_tokens) AS n');
  return Number(row?.n ?? 0);
}

async function measurePurge() {
  const schema = await freshSchema();
  try {
    const now = Date.now();
    const { userId, rows } = await createBacklog(schema.db, now);
    log(`backlog: ${fmt(rows)} rows`);
    const idle = rotateLiveSessions(schema.db, userId, () => new Date(Date.now() - 10_000));
    await new Promise((r) => setTimeout(r, 3_000));
    const idleLatencies = await idle.stop();
    const before = await countRows(schema.db);
    const live = rotateLiveSessions(schema.db, userId, () => new Date(Date.now() - 10_000));
    const started = performance.now();
    const result = await runPurge(schema.db, { now: () => Date.now() }, { retentionSeconds: RETENTION_SECONDS, graceSeconds: 10 });
    const lockHeldMs = performance.now() - started;
    const during = await live.stop();
    if (!result.acquired) throw new Error('purge lock not acquired');
    // Each live rotation inserted a row meanwhile: count them back in.
    const deleted = before - (await countRows(schema.db)) + during.length;
    return { report: result.value, deleted, lockHeldMs, idleLatencies, during, rows };
  } finally {
    await schema.drop();
  }
}

async function measureOneShot() {
  const schema = await freshSchema();
  try {
    const now = Date.now();
    const { userId } = await createBacklog(schema.db, now);
    const before = await countRows(schema.db);
    const live = rotateLiveSessions(schema.db, userId, () => new Date(Date.now() - 10_000));
    const cutoff = new Date(now - RETENTION_SECONDS * 1000);
    const started = performance.now();
    // Everything in one transaction: what a purge without batches would hold.
    await schema.db.transaction(async (tx) => {
      await tx.query('DELETE FROM refresh_tokens WHERE rotated_at < $1', [cutoff]);
      await tx.query('DELETE FROM sessions WHERE idle_expires_at < $1 OR revoked_at < $1', [cutoff]);
    });
    const lockHeldMs = performance.now() - started;
    const during = await live.stop();
    const deleted = before - (await countRows(schema.db)) + during.length;
    return { deleted, lockHeldMs, during };
  } finally {
    await schema.drop();
  }
}

async function main(): Promise<void> {
  const cpus = os.cpus();
  const machine = `${cpus[0]?.model.trim() ?? 'unknown CPU'} × ${cpus.length} cores, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')}`;
  log(machine);
  log(`${fmt(SESSIONS)} dead sessions × ${TOKENS} token rows, batches of ${fmt(DEFAULT_PURGE_BATCH)}`);
  const purge = await measurePurge();
  const r: PurgeReport = purge.report;
  log(`purge: ${fmt(purge.deleted)} rows in ${fmt(r.durationMs / 1000)} s`);
  const oneShot = await measureOneShot();
  log(`one statement per table: ${fmt(oneShot.deleted)} rows in ${fmt(oneShot.lockHeldMs / 1000)} s`);

  const purgeRate = purge.deleted / (r.durationMs / 1000);
  const oneShotRate = oneShot.deleted / (oneShot.lockHeldMs / 1000);
  const lines = [
    '# Session purge over a large backlog',
    '',
    `\`node --import tsx bench/purge.ts ${SESSIONS} ${TOKENS}\` on ${machine}, PostgreSQL at ${new URL(DATABASE_URL).host}, ${new Date().toISOString()}.`,
    '',
    `Backlog: ${fmt(SESSIONS)} sessions dead for 40 days (half revoked, half expired), ${TOKENS} refresh-token rows each`,
    `(${TOKENS - 1} rotated, with sealed successors, and the last one) — ${fmt(purge.rows)} rows. \`SESSION_RETENTION\` 30 days.`,
    `Meanwhile ${LIVE_CHAINS} live sessions rotate back to back with the refresh statement; their latency shows whether the purge stalls refreshes.`,
    '',
    '| | rows deleted | time | rows deleted / s | longest lock held | live rotations during it |',
    '|---|---|---|---|---|---|',
    `| purge (batches of ${fmt(DEFAULT_PURGE_BATCH)}, ${fmt(r.batches)} statements) | ${fmt(purge.deleted)} | ${fmt(r.durationMs / 1000)} s | ${fmt(purgeRate)} | ${fmt(r.longestBatchMs)} ms (one statement's row locks; the advisory lock, which blocks nothing but other purges, ${fmt(purge.lockHeldMs / 1000)} s) | ${latencyLine(purge.during)} |`,
    `| baseline: one DELETE per table, one transaction | ${fmt(oneShot.deleted)} | ${fmt(oneShot.lockHeldMs / 1000)} s | ${fmt(oneShotRate)} | ${fmt(oneShot.lockHeldMs)} ms (every deleted row, until commit) | ${latencyLine(oneShot.during)} |`,
    `| live rotations with no purge running | | | | | ${latencyLine(purge.idleLatencies)} |`,
    '',
    `Purge rate ${fmt(purgeRate / oneShotRate)}× the one-statement baseline; longest lock ${fmt(r.longestBatchMs / oneShot.lockHeldMs)}× of it.`,
    `Per step: ${fmt(r.scrubbed)} sealed successors scrubbed, ${fmt(r.tokensDeleted)} rotated-token hashes and ${fmt(r.sessionsDeleted)} sessions (each with its last token) deleted.`,
    'A timer run stops after 500 full batches (a million rows) and the next run, a minute later, carries on; this run had no bound (as `tessera sessions prune`).',
    '',
  ];
  const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'RESULTS-purge.md');
  fs.writeFileSync(out, lines.join('\n'));
  process.stdout.write(`${lines.join('\n')}\nwritten to ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
