// Several real Tessera processes sharing PostgreSQL, Redis and keys/, plus the example
// resource service: the multi-replica topology, as processes on loopback.
import fs from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import { startCluster as startBalancedCluster, type Cluster as BalancedCluster, type ClusterOptions } from '../../../../scripts/cluster.ts';
import { tempDir } from '../helpers/app.ts';
import { createTestDb, POSTGRES_URL, urlWithSchema, type TestDb } from '../helpers/db.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { RESOURCE_SERVICE, startProcess, type TesseraProcess } from '../helpers/process.ts';
import { adminClient, deleteKeys, REDIS_URL, uniquePrefix } from '../revocation/redis-kit.ts';

export const ISSUER = 'http://tessera.test';
export const CLIENT = { id: 'resource-api', secret: 'resource-secret' };

export interface Cluster {
  replicas: TesseraProcess[];
  service: TesseraProcess;
  env: Record<string, string>;
  restart(index: number): Promise<TesseraProcess>;
  stop(): Promise<void>;
}

export async function startCluster(options: { replicas: number; redisUrl?: string; extraEnv?: Record<string, string> }): Promise<Cluster> {
  const testDb: TestDb = await createTestDb('postgres');
  const prefix = uniquePrefix('e2e');
  const keysDir = tempDir('tessera-keys-');
  const env = {
    DATABASE_URL: urlWithSchema(testDb.schema!),
    REDIS_URL: options.redisUrl ?? REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    KEYS_DIR: keysDir,
    ISSUER,
    INTROSPECTION_CLIENTS: `${CLIENT.id}:${CLIENT.secret}`,
    ...options.extraEnv,
  };
  // The first replica creates the schema and the key; the others start together.
  const first = await startProcess({ env });
  const rest = await Promise.all(Array.from({ length: options.replicas - 1 }, () => startProcess({ env })));
  const replicas = [first, ...rest];
  const service = await startProcess({
    script: RESOURCE_SERVICE,
    env: { ISSUER, JWKS_URI: `${first.url}/.well-known/jwks.json`, REDIS_URL: env.REDIS_URL, REDIS_KEY_PREFIX: prefix },
  });
  return {
    replicas,
    service,
    env,
    async restart(index) {
      const old = replicas[index]!;
      expect(await old.stop('SIGTERM')).toBe(0);
      replicas[index] = await startProcess({ env, port: old.port });
      return replicas[index];
    },
    async stop() {
      await Promise.all([...replicas, service].map((p) => p.stop('SIGKILL')));
      await testDb.drop();
      const admin = adminClient();
      await deleteKeys(admin, prefix);
      admin.disconnect();
      fs.rmSync(keysDir, { recursive: true, force: true });
    },
  };
}

/**
 * `npm run cluster`'s topology — nginx in front of Tessera replicas — for the tests of one
 * describe block: started before them on a schema, keys folder and Redis key prefix of its
 * own, stopped and cleaned up after. Call it inside the describe block, and `cluster()` or
 * `testDb()` in a test.
 */
export function useBalancedCluster(
  name: string,
  options: Pick<ClusterOptions, 'replicas' | 'env'>,
): { cluster(): BalancedCluster; testDb(): TestDb } {
  let testDb: TestDb | undefined;
  let cluster: BalancedCluster | undefined;
  let keysDir: string | undefined;
  const prefix = uniquePrefix(name);
  beforeAll(async () => {
    testDb = await createTestDb('postgres');
    keysDir = tempDir(`tessera-${name}-keys-`);
    cluster = await startBalancedCluster({
      databaseUrl: POSTGRES_URL,
      schema: testDb.schema!,
      redisUrl: REDIS_URL,
      redisKeyPrefix: prefix,
      keysDir,
      resourceService: false,
      logLevel: 'warn',
      ...options,
    });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await testDb?.drop();
    if (keysDir) fs.rmSync(keysDir, { recursive: true, force: true });
    const admin = adminClient();
    await deleteKeys(admin, prefix);
    admin.disconnect();
  }, 60_000);
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the balanced cluster did not start');
    return value;
  };
  return { cluster: () => started(cluster), testDb: () => started(testDb) };
}

const json = { 'content-type': 'application/json' };

export async function post(base: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: body === undefined ? headers : { ...json, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export interface Pair {
  access_token: string;
  refresh_token: string;
}

export async function registerAndLogin(base: string, email = uniqueEmail(), password = PASSWORD) {
  expect((await post(base, '/auth/register', { email, password })).status).toBe(201);
  const res = await post(base, '/auth/login', { email, password });
  expect(res.status).toBe(200);
  return { email, password, pair: (await res.json()) as Pair };
}

export async function loginAs(base: string, email: string, password = PASSWORD): Promise<Pair> {
  const res = await post(base, '/auth/login', { email, password });
  expect(res.status).toBe(200);
  return (await res.json()) as Pair;
}

/** Status of a bearer call: /auth/me on a replica, /api/profile on the resource service. */
export async function bearerStatus(target: TesseraProcess, token: string, isService = false): Promise<number> {
  const res = await fetch(`${target.url}${isService ? '/api/profile' : '/auth/me'}`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

/** Polls until the token is rejected; returns milliseconds from `since`. */
export async function rejectedWithin(target: TesseraProcess, token: string, since: number, isService = false, deadlineMs = 5_000) {
  for (;;) {
    const status = await bearerStatus(target, token, isService);
    if (status === 401) return performance.now() - since;
    if (performance.now() - since > deadlineMs) throw new Error(`${target.url} still accepts the token after ${deadlineMs} ms`);
  }
}
