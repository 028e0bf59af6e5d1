// One batch of operations and what it cost every component: the replica (its CPU less its
// idle rate), PostgreSQL (its backends' CPU, WAL and rows of the bench schema), Redis
// (commands and CPU of the private redis-server). Also the same-run baselines: one RS256
// signature and one argon2id hash, measured in this process.
import crypto from 'node:crypto';
import argon2 from 'argon2';
import type { Redis } from 'ioredis';
import { OWASP_ARGON2 } from '../../packages/server/src/users/password.ts';
import { pool } from '../lib/client.ts';
import { PASSWORD } from '../lib/cluster.ts';
import { cpuSecondsOf } from '../lib/process.ts';
import { sleep } from '../lib/stats.ts';
import { cpuBetween, parseRedisInfo, PidCpu, redisDiff, type PostgresMeter } from './meters.ts';

/**
 * The limits are on, as shipped (bench/lib/cluster.ts turns them off for the other benches),
 * so their work — a Redis read per refresh, a counter per login — is counted. The per-address
 * login limit and the per-session refresh budget are raised to let one address log in 160
 * times and a rotation chain refresh every few milliseconds.
 */
export const AS_SHIPPED_LIMITS = { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_IP_PER_MINUTE: '1000000', RATE_LIMIT_REFRESH_SESSION_PER_MINUTE: '10000' };

/** What one operation cost, averaged over a batch. CPU in milliseconds. */
export interface OpCost {
  count: number;
  wallSeconds: number;
  replicaMs: number;
  postgresMs: number;
  walBytes: number;
  fpiBytes: number;
  /** Heap rows written per operation, per table (inserted + updated + deleted). */
  rows: Record<string, { ins: number; upd: number; del: number }>;
  rowsWritten: number;
  redisCommands: number;
  redisCalls: Record<string, number>;
  redisMs: number;
  redisMemoryBytes: number;
  failed: number;
}

export interface Target {
  /** The replica's Node process. */
  pid: number;
  /** application_name of its PostgreSQL connections. */
  applicationName: string;
  /** Cores it uses when idle (timers, pool keep-alive, pub/sub), subtracted from every batch. */
  idleCores: number;
}

export interface Components {
  target: Target;
  postgres: PostgresMeter;
  redis: Redis;
  /** Cores the private Redis uses idle (serverCron). */
  redisIdleCores: number;
}

const redisInfo = async (redis: Redis) => parseRedisInfo(await redis.info('all'));

/** Cores a process uses over `seconds` with nothing sent to it. */
export async function idleCores(pid: number, seconds = 2): Promise<number> {
  const a = cpuSecondsOf(pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  return (cpuSecondsOf(pid) - a) / ((performance.now() - t0) / 1000);
}

export async function redisIdleCores(redis: Redis, seconds = 2): Promise<number> {
  const a = await redisInfo(redis);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  return ((await redisInfo(redis)).cpuSeconds - a.cpuSeconds) / ((performance.now() - t0) / 1000);
}

/**
 * Runs `task(i)` for i < count, `concurrency` at a time, and divides what each component
 * spent by the operations that succeeded (a task returns false for a failure).
 */
export async function measureOps(c: Components, count: number, concurrency: number, task: (i: number) => Promise<boolean>): Promise<OpCost> {
  const cpu = new PidCpu();
  const pgCpu = new PidCpu();
  const backendsBefore = await c.postgres.backends(c.target.applicationName);
  const pgBefore = pgCpu.read(backendsBefore);
  const lsnBefore = await c.postgres.lsn();
  const redisBefore = await redisInfo(c.redis);
  const replicaBefore = cpu.read([c.target.pid]);
  const t0 = performance.now();
  const ok = await pool(count, concurrency, task);
  const wallSeconds = (performance.now() - t0) / 1000;
  const replicaAfter = cpu.read([c.target.pid]);
  const redisAfter = await redisInfo(c.redis);
  const backendsAfter = await c.postgres.backends(c.target.applicationName);
  const pgAfter = pgCpu.read([...new Set([...backendsBefore, ...backendsAfter])]);
  const lsnAfter = await c.postgres.lsn();
  const wal = await c.postgres.walBetween(lsnBefore, lsnAfter);
  const done = ok.filter(Boolean).length;
  const per = (x: number) => x / Math.max(1, done);
  const redis = redisDiff(redisBefore, redisAfter);
  const rows = Object.fromEntries(Object.entries(wal.rows).map(([t, r]) => [t, { ins: per(r.ins), upd: per(r.upd), del: per(r.del) }]));
  return {
    count: done,
    wallSeconds,
    replicaMs: per(cpuBetween(replicaBefore, replicaAfter) - c.target.idleCores * wallSeconds) * 1000,
    postgresMs: per(cpuBetween(pgBefore, pgAfter)) * 1000,
    walBytes: per(wal.bytes),
    fpiBytes: per(wal.fpiBytes),
    rows,
    rowsWritten: Object.values(rows).reduce((n, r) => n + r.ins + r.upd + r.del, 0),
    redisCommands: per(redis.commands),
    redisCalls: Object.fromEntries(Object.entries(redis.calls).map(([k, v]) => [k, per(v)])),
    redisMs: per(redis.cpuSeconds - c.redisIdleCores * wallSeconds) * 1000,
    redisMemoryBytes: per(redis.memory),
    failed: count - done,
  };
}

/** CPU milliseconds of one RS256 signature as the server makes it (callback form, on the thread pool, `inFlight` deep). */
export async function signCpuMs(count: number, inFlight = 8): Promise<number> {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const payload = Buffer.from(`${'x'.repeat(120)}.${'y'.repeat(400)}`); // the size of a signing input
  const sign = () => new Promise<Buffer>((resolve, reject) => crypto.sign('RSA-SHA256', payload, privateKey, (err, sig) => (err ? reject(err) : resolve(sig))));
  await pool(50, inFlight, sign); // warm-up
  const before = process.cpuUsage();
  await pool(count, inFlight, sign);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / count;
}

/** CPU milliseconds of one argon2id hash with the server's parameters (4 in flight on the thread pool). */
export async function argon2CpuMs(count: number, inFlight = 4): Promise<number> {
  const hash = () => argon2.hash(PASSWORD, { type: argon2.argon2id, ...OWASP_ARGON2 });
  await pool(4, inFlight, hash);
  const before = process.cpuUsage();
  await pool(count, inFlight, hash);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / count;
}
