// The infrastructure a bench run owns: a fresh PostgreSQL schema, a Redis key prefix, a
// keys folder, and the Tessera replicas started on them. Everything is removed at the end.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { envSchema } from '../../packages/server/src/config.ts';
import { SERVER_MAIN } from '../../scripts/lib/node-script.ts';
import { pool, type Client } from './client.ts';
import { cpuMeter, cpuSecondsOf, startServer, type ServerProcess } from './process.ts';

export const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const ISSUER = 'http://tessera.bench';
export const AUDIENCE = 'tessera';
export const PASSWORD = 'correct horse battery staple';
/** The libuv thread pool size of every process in the run (bench and servers alike). */
export const THREADPOOL = Number(process.env.UV_THREADPOOL_SIZE ?? 4);

export interface Infra {
  /** Also the application_name of every connection the replicas open. */
  schema: string;
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  keysDir: string;
  /** A client of INTROSPECTION_CLIENTS allowed to read the revocation feed. */
  feedClient: { id: string; secret: string };
  /** Environment every Tessera replica gets. */
  tesseraEnv: Record<string, string>;
  cleanup(): Promise<void>;
}

export async function createInfra(options: { redisUrl?: string } = {}): Promise<Infra> {
  const redisUrl = options.redisUrl ?? REDIS_URL;
  const id = crypto.randomBytes(5).toString('hex');
  const schema = `bench_${id}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA "${schema}"`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  // Lets the benches find this run's PostgreSQL backends (and their CPU) among everyone else's.
  url.searchParams.set('application_name', schema);
  const prefix = `tessera-bench:${id}:`;
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-keys-'));
  const feedClient = { id: 'bench-feed', secret: crypto.randomBytes(16).toString('hex') };
  const tesseraEnv: Record<string, string> = {
    DATABASE_URL: url.toString(),
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    KEYS_DIR: keysDir,
    ISSUER,
    AUDIENCE,
    UV_THREADPOOL_SIZE: String(THREADPOOL),
    // The propagation bench follows the revocation feed with it.
    INTROSPECTION_CLIENTS: `${feedClient.id}:${feedClient.secret}:revocations`,
  };
  // Login rate limiting would turn a login storm into 429s: off for the bench.
  if ('RATE_LIMIT_ENABLED' in envSchema.shape) tesseraEnv.RATE_LIMIT_ENABLED = 'false';
  return {
    schema,
    databaseUrl: url.toString(),
    redisUrl,
    prefix,
    keysDir,
    feedClient,
    tesseraEnv,
    async cleanup() {
      const db = new pg.Client({ connectionString: POSTGRES_URL });
      await db.connect();
      await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.end();
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
      let cursor = '0';
      const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
      redis.disconnect();
      fs.rmSync(keysDir, { recursive: true, force: true });
    },
  };
}

/** Starts one Tessera replica (the compiled server) on the run's database, Redis and keys. */
export function startTessera(infra: Infra, name: string, nodeArgs: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  return startServer({ name, script: SERVER_MAIN, env: { ...infra.tesseraEnv, ...env }, nodeArgs });
}

export interface Pair {
  access_token: string;
  refresh_token: string;
}

export async function register(client: Client, base: string, email: string): Promise<void> {
  const res = await client.post(`${base}/auth/register`, { email, password: PASSWORD });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${res.body}`);
}

export async function login(client: Client, base: string, email: string): Promise<Pair> {
  const res = await client.post(`${base}/auth/login`, { email, password: PASSWORD });
  if (res.status !== 200) throw new Error(`login: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as Pair;
}

/** `count` sessions of one user, logged in `concurrency` at a time across `bases` (argon2 bound). */
export async function createSessions(client: Client, bases: string[], email: string, count: number, concurrency = THREADPOOL): Promise<Pair[]> {
  return pool(count, concurrency, (i) => login(client, bases[i % bases.length]!, email));
}

export const uniqueEmail = (tag: string): string => `${tag}-${crypto.randomBytes(5).toString('hex')}@bench.example.com`;

/** Pids of the PostgreSQL backends serving this run's replicas (found by application_name). */
export async function backendPids(infra: Infra): Promise<number[]> {
  const db = new pg.Client({ connectionString: POSTGRES_URL });
  await db.connect();
  try {
    const { rows } = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [infra.schema]);
    return rows.map((r) => r.pid);
  } finally {
    await db.end();
  }
}

/**
 * Cores used by this run's PostgreSQL backends between the call and the returned function's
 * call. Backends the pools open meanwhile (pg closes idle ones after 10 s) count from birth.
 */
export async function postgresMeter(infra: Infra): Promise<() => Promise<number>> {
  const before = await backendPids(infra);
  const meter = cpuMeter({ postgres: before });
  const t0 = performance.now();
  return async () => {
    const cores = meter().postgres!;
    const seconds = (performance.now() - t0) / 1000;
    let newcomers = 0;
    for (const pid of await backendPids(infra)) {
      if (before.includes(pid)) continue;
      try {
        newcomers += cpuSecondsOf(pid);
      } catch {
        // gone already
      }
    }
    return cores + newcomers / seconds;
  };
}
