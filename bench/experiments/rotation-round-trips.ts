// `node --import tsx bench/experiments/rotation-round-trips.ts`: what a refresh rotation costs
// as today's eight PostgreSQL round trips (src/sessions/session-service.ts: look-up, BEGIN,
// SELECT … FOR UPDATE, look-up, INSERT successor, UPDATE rotated, UPDATE session, COMMIT)
// against the same rows written by one statement. Database only, 32 concurrent chains over a
// pool of 10 (the server's default), in a throw-away schema. Not part of `npm run bench`.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { POSTGRES_URL } from '../lib/cluster.ts';
import { cpuMeter, ROOT } from '../lib/process.ts';
import { fmt } from '../lib/stats.ts';

const CHAINS = 32;
const SECONDS = Number(process.argv[2] ?? 3);
const SEALED = 'x'.repeat(100); // the size of a sealed successor
const hash = (token: string) => crypto.createHash('sha256').update(token).digest('base64url');
const newToken = () => `rt_${crypto.randomBytes(32).toString('base64url')}`;

const schema = `bench_rt_${crypto.randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: POSTGRES_URL });
await admin.connect();
await admin.query(`CREATE SCHEMA "${schema}"`);
const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 10, options: `-c search_path=${schema}`, application_name: schema });

interface TokenRow {
  session_id: string;
  generation: number;
}

/** Today's shape: one look-up, then a transaction of six statements. */
async function eightRoundTrips(token: string): Promise<string> {
  const tokenHash = hash(token);
  const found = (await pool.query<TokenRow>('SELECT * FROM refresh_tokens WHERE token_hash = $1', [tokenHash])).rows[0]!;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT * FROM sessions s WHERE s.id = $1 FOR UPDATE', [found.session_id]);
    const record = (await client.query<TokenRow>('SELECT * FROM refresh_tokens WHERE token_hash = $1', [tokenHash])).rows[0]!;
    const next = newToken();
    await client.query('INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at) VALUES ($1, $2, $3, $4)', [
      hash(next), found.session_id, record.generation + 1, new Date(),
    ]);
    await client.query('UPDATE refresh_tokens SET rotated_at = $2, successor_sealed = $3 WHERE token_hash = $1', [tokenHash, new Date(), SEALED]);
    await client.query('UPDATE sessions SET last_used_at = $2, idle_expires_at = $3 WHERE id = $1 RETURNING *', [
      found.session_id, new Date(), new Date(Date.now() + 86_400_000),
    ]);
    await client.query('COMMIT');
    return next;
  } finally {
    client.release();
  }
}

// The happy path (an unrotated token of a live session) in one statement; anything else
// (grace window, reuse, expired) returns no row and would fall back to today's transaction.
const ROTATE = `
WITH t AS (SELECT token_hash, session_id, generation FROM refresh_tokens WHERE token_hash = $1 AND rotated_at IS NULL FOR UPDATE),
s AS (SELECT s.id FROM sessions s JOIN t ON s.id = t.session_id
      WHERE s.revoked_at IS NULL AND s.idle_expires_at > $4 AND s.absolute_expires_at > $4 FOR UPDATE OF s),
ins AS (INSERT INTO refresh_tokens (token_hash, session_id, generation, issued_at)
        SELECT $2, t.session_id, t.generation + 1, $4 FROM t JOIN s ON s.id = t.session_id RETURNING session_id),
upd AS (UPDATE refresh_tokens r SET rotated_at = $4, successor_sealed = $3 FROM ins WHERE r.token_hash = $1)
UPDATE sessions x SET last_used_at = $4, idle_expires_at = $5 FROM ins WHERE x.id = ins.session_id RETURNING x.*`;

async function oneRoundTrip(token: string): Promise<string> {
  const next = newToken();
  const res = await pool.query(ROTATE, [hash(token), hash(next), SEALED, new Date(), new Date(Date.now() + 86_400_000)]);
  if (res.rowCount !== 1) throw new Error('the rotation did not happen');
  return next;
}

async function run(name: string, rotate: (token: string) => Promise<string>, chains: string[], seconds: number, backends: number[]): Promise<void> {
  const cpu = cpuMeter({ node: process.pid, postgres: backends });
  const end = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    chains.map(async (_, i) => {
      while (performance.now() < end) {
        chains[i] = await rotate(chains[i]!);
        done++;
      }
    }),
  );
  const used = cpu();
  const rate = done / seconds;
  console.log(`${name}: ${fmt(rate)}/s, Node CPU ${fmt((used.node! / rate) * 1000)} ms and PostgreSQL CPU ${fmt((used.postgres! / rate) * 1000)} ms per rotation`);
}

try {
  await pool.query(fs.readFileSync(path.join(ROOT, 'packages/server/migrations/001_users_and_sessions.sql'), 'utf8'));
  const user = crypto.randomUUID();
  await pool.query(`INSERT INTO users VALUES ($1, 'bench@example.com', 'hash', now(), now(), NULL)`, [user]);
  const chains: string[] = [];
  for (let i = 0; i < CHAINS; i++) {
    const session = crypto.randomUUID();
    const token = newToken();
    await pool.query(
      `INSERT INTO sessions VALUES ($1, $2, 'tessera', true, now(), now(), now() + interval '1 day', now() + interval '30 days', NULL, NULL, NULL, NULL)`,
      [session, user],
    );
    await pool.query('INSERT INTO refresh_tokens VALUES ($1, $2, 0, now(), NULL, NULL)', [hash(token), session]);
    chains.push(token);
  }
  await run('warm-up, 8 round trips', eightRoundTrips, chains, 1, []);
  await run('warm-up, 1 round trip', oneRoundTrip, chains, 1, []);
  const backends = (await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [schema])).rows.map((r) => r.pid);
  for (let round = 0; round < 3; round++) {
    await run('8 round trips', eightRoundTrips, chains, SECONDS, backends);
    await run('1 round trip ', oneRoundTrip, chains, SECONDS, backends);
  }
} finally {
  await pool.end();
  await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
  await admin.end();
}
