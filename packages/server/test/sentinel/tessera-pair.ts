// Two Tessera processes against one throw-away Sentinel deployment: one started with the
// Redis settings under test, one without them. The second must never reach Redis, so a test
// built on the pair passes only if those settings are really used. Each process has its own
// database: one replica's revocation outbox is drained by any other, so sharing one would
// let the configured process write what the other could not.
import fs from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import { redisSentinel, skipUnless } from '../../../../test/lib/requirements.ts';
import { createVerifier, VerifyError, type RedisSentinelConnection, type Verifier } from '@tessera/verifier';
import { denylistKey } from '@tessera/verifier/internal';
import { tempDir } from '../helpers/app.ts';
import { createTestDb, urlWithSchema, type TestDb } from '../helpers/db.ts';
import { startProcess, type TesseraProcess } from '../helpers/process.ts';
import { uniquePrefix } from '../revocation/redis-kit.ts';
import { post, registerAndLogin } from '../e2e/cluster-kit.ts';
import { MASTER_NAME, startSentinelDeployment, type SentinelDeployment } from './sentinel-kit.ts';

const ISSUER = 'http://tessera.test';

export interface TesseraPair {
  deployment: SentinelDeployment;
  prefix: string;
  /** Started with the settings under test. */
  configured: TesseraProcess;
  /** Started without them. */
  unconfigured: TesseraProcess;
  /** A verifier trusting `configured`'s keys, reading revocations through `redisSentinel` (the pair's password and master name are filled in). */
  newVerifier(redisSentinel: Omit<RedisSentinelConnection, 'sentinels'>, readyTimeoutMs: number): Verifier;
  stop(): Promise<void>;
}

export interface TesseraPairOptions {
  deployment: Parameters<typeof startSentinelDeployment>[0];
  prefixName: string;
  /** Tessera's Redis variables with, and without, the settings under test. */
  configured: (deployment: SentinelDeployment) => Record<string, string>;
  unconfigured: (deployment: SentinelDeployment) => Record<string, string>;
}

/** A describe block (skipped, or failed under CI, without the Redis binaries: test/lib/requirements.ts) whose tests share one pair, started before and stopped after them. */
export function describeTesseraPair(title: string, options: TesseraPairOptions, tests: (pair: () => TesseraPair) => void): void {
  skipUnless(redisSentinel)(title, () => {
    let pair: TesseraPair | undefined;
    beforeAll(async () => {
      pair = await startTesseraPair(options);
    }, 40_000);
    afterAll(async () => {
      await pair?.stop();
    });
    tests(() => pair!);
  });
}

export async function startTesseraPair(options: TesseraPairOptions): Promise<TesseraPair> {
  const started = await Promise.allSettled([startSentinelDeployment(options.deployment), createTestDb('postgres'), createTestDb('postgres')]);
  const keysDir = tempDir('tessera-keys-');
  const processes: TesseraProcess[] = [];
  const verifiers: Verifier[] = [];
  const stop = async () => {
    await Promise.all(verifiers.map((v) => v.close()));
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    const [deployment, ...dbs] = started;
    if (deployment.status === 'fulfilled') await deployment.value.stop();
    await Promise.all(dbs.map(async (db) => (db.status === 'fulfilled' ? db.value.drop() : undefined)));
    fs.rmSync(keysDir, { recursive: true, force: true });
  };
  try {
    const [deployment, ...dbs] = started.map((s) => {
      if (s.status === 'rejected') throw s.reason;
      return s.value;
    }) as [SentinelDeployment, TestDb, TestDb];
    const prefix = uniquePrefix(options.prefixName);
    const env = { REDIS_KEY_PREFIX: prefix, KEYS_DIR: keysDir, ISSUER, REVOCATION_WRITE_TIMEOUT_MS: '1000', LOG_LEVEL: 'info' };
    const envs = [options.configured(deployment), options.unconfigured(deployment)];
    // Side by side (the unconfigured one waits out its first denylist load).
    const [configured, unconfigured] = await Promise.all(
      envs.map(async (redisEnv, i) => {
        const process = await startProcess({ env: { ...env, ...redisEnv, DATABASE_URL: urlWithSchema(dbs[i]!.schema!) } });
        processes.push(process);
        return process;
      }),
    );
    const newVerifier = (redisSentinel: Omit<RedisSentinelConnection, 'sentinels'>, readyTimeoutMs: number) => {
      const verifier = createVerifier({
        issuer: ISSUER,
        audience: 'tessera',
        jwksUri: `${configured!.url}/.well-known/jwks.json`,
        revocation: {
          redisSentinel: { sentinels: deployment.addresses, name: MASTER_NAME, password: deployment.password, sentinelPassword: deployment.sentinelPassword, ...redisSentinel },
          keyPrefix: prefix,
          readyTimeoutMs,
        },
        onError: () => {},
      });
      verifiers.push(verifier);
      return verifier;
    };
    return { deployment, prefix, configured: configured!, unconfigured: unconfigured!, newVerifier, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function denylistReadiness(process: TesseraProcess): Promise<string> {
  return ((await (await fetch(`${process.url}/readyz`)).json()) as { denylist: string }).denylist;
}

const sidOf = (token: string): string => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;

async function revocationCode(verifier: Verifier, token: string): Promise<string | undefined> {
  const rejection = await verifier.verify(token).then(() => undefined, (err: unknown) => err);
  expect(rejection).toBeInstanceOf(VerifyError);
  return (rejection as VerifyError).code;
}

/** The configured process is ready; its logout reaches the primary, and a verifier given `redisSentinel` refuses the token. No credential is logged. */
export async function expectLogoutReachesRedis(pair: TesseraPair, redisSentinel: Omit<RedisSentinelConnection, 'sentinels'>): Promise<void> {
  const { configured, deployment, prefix } = pair;
  expect(await denylistReadiness(configured)).toBe('ok');
  const { pair: tokens } = await registerAndLogin(configured.url);
  expect((await post(configured.url, '/auth/logout', { refresh_token: tokens.refresh_token })).status).toBe(204);
  const primary = deployment.client(await deployment.primaryPort());
  expect(await primary.exists(denylistKey(prefix, { kind: 'session', id: sidOf(tokens.access_token) }))).toBe(1);
  // Its first load must see the revocation.
  const verifier = pair.newVerifier(redisSentinel, 10_000);
  expect(await revocationCode(verifier, tokens.access_token)).toBe('revoked');
  expect(verifier.status()).toBe('ok');
  for (const secret of [deployment.password, deployment.sentinelPassword]) expect(configured.output()).not.toContain(secret);
}

/** The unconfigured process never reached Redis (degraded, its logout unconfirmed), and neither does a verifier given `redisSentinel`. */
export async function expectRedisNeverReached(pair: TesseraPair, redisSentinel: Omit<RedisSentinelConnection, 'sentinels'>): Promise<void> {
  const { unconfigured, deployment, prefix } = pair;
  expect(unconfigured.output()).toContain('"initial_load_failed"');
  expect(await denylistReadiness(unconfigured)).toBe('degraded');
  // A logout is applied locally but never confirmed by Redis.
  const { pair: tokens } = await registerAndLogin(unconfigured.url);
  expect((await post(unconfigured.url, '/auth/logout', { refresh_token: tokens.refresh_token })).status).toBe(503);
  const primary = deployment.client(await deployment.primaryPort());
  expect(await primary.exists(denylistKey(prefix, { kind: 'session', id: sidOf(tokens.access_token) }))).toBe(0);
  for (const secret of [deployment.password, deployment.sentinelPassword]) expect(unconfigured.output()).not.toContain(secret);
  const verifier = pair.newVerifier(redisSentinel, 1_500);
  expect(await revocationCode(verifier, tokens.access_token)).toBe('revocation_unavailable');
  expect(verifier.status()).toBe('degraded');
}
