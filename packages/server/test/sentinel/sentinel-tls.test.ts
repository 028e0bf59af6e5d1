// Redis Sentinel over TLS (REDIS_TLS, REDIS_SENTINEL_TLS defaulting to it, REDIS_TLS_CA_FILE;
// the verifier's redisSentinel.tls / sentinelTls) against a real deployment whose data nodes
// and sentinels listen on TLS only (`port 0`), replicate and gossip over TLS, and present a
// certificate from a throw-away CA. The same start without REDIS_TLS must fail to reach
// Redis, so nothing here passes unless TLS is really used on both sides.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, VerifyError, type RedisSentinelConnection, type Verifier } from '@tessera/verifier';
import { tempDir } from '../helpers/app.ts';
import { createTestDb, urlWithSchema, type TestDb } from '../helpers/db.ts';
import { startProcess, type TesseraProcess } from '../helpers/process.ts';
import { uniquePrefix } from '../revocation/redis-kit.ts';
import { post, registerAndLogin } from '../e2e/cluster-kit.ts';
import { MASTER_NAME, sentinelAvailable, startSentinelDeployment, type SentinelDeployment } from './sentinel-kit.ts';

const ISSUER = 'http://tessera.test';

async function denylistReadiness(process: TesseraProcess): Promise<string> {
  return ((await (await fetch(`${process.url}/readyz`)).json()) as { denylist: string }).denylist;
}

const sidOf = (token: string): string => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;

describe.skipIf(!sentinelAvailable())('Redis Sentinel over TLS (TLS-only data nodes and sentinels, private CA)', () => {
  let deployment: SentinelDeployment;
  const testDbs: TestDb[] = [];
  let keysDir: string;
  const prefix = uniquePrefix('sentinel-tls');
  const processes: TesseraProcess[] = [];
  const verifiers: Verifier[] = [];
  let withTls: TesseraProcess;
  let withoutTls: TesseraProcess;

  beforeAll(async () => {
    // A database each: one replica's revocation outbox is drained by any other, so sharing
    // one would let the replica with TLS write what the other could not.
    let dbs: TestDb[];
    [deployment, ...dbs] = await Promise.all([startSentinelDeployment({ tls: true }), createTestDb('postgres'), createTestDb('postgres')]);
    testDbs.push(...dbs);
    keysDir = tempDir('tessera-keys-');
    const env = { REDIS_KEY_PREFIX: prefix, KEYS_DIR: keysDir, ISSUER, REVOCATION_WRITE_TIMEOUT_MS: '1000', LOG_LEVEL: 'info' };
    // Side by side (the one without TLS waits out its first denylist load).
    [withTls, withoutTls] = await Promise.all([
      startProcess({ env: { ...env, ...deployment.redisEnv(), DATABASE_URL: urlWithSchema(dbs[0]!.schema!) } }),
      startProcess({ env: { ...env, ...deployment.redisEnv({ tls: false }), DATABASE_URL: urlWithSchema(dbs[1]!.schema!) } }),
    ]);
    processes.push(withTls, withoutTls);
  }, 40_000);

  afterAll(async () => {
    await Promise.all(verifiers.map((v) => v.close()));
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    await deployment?.stop();
    await Promise.all(testDbs.map((db) => db.drop()));
    if (keysDir) fs.rmSync(keysDir, { recursive: true, force: true });
  });

  const newVerifier = (redisSentinel: RedisSentinelConnection, readyTimeoutMs: number): Verifier => {
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: 'tessera',
      jwksUri: `${withTls.url}/.well-known/jwks.json`,
      revocation: { redisSentinel, keyPrefix: prefix, readyTimeoutMs },
      onError: () => {},
    });
    verifiers.push(verifier);
    return verifier;
  };

  it('with REDIS_TLS and the CA: a logout reaches the primary over TLS, and a verifier with the TLS options loads it', async () => {
    expect(await denylistReadiness(withTls)).toBe('ok');
    const { pair } = await registerAndLogin(withTls.url);
    expect((await post(withTls.url, '/auth/logout', { refresh_token: pair.refresh_token })).status).toBe(204);
    const primary = deployment.client(await deployment.primaryPort());
    expect(await primary.exists(`${prefix}deny:session:${sidOf(pair.access_token)}`)).toBe(1);

    // The library, given the same CA (sentinelTls follows tls): its first load must see the revocation.
    const ca = fs.readFileSync(deployment.caFile!, 'utf8');
    const verifier = newVerifier(
      { sentinels: deployment.addresses, name: MASTER_NAME, password: deployment.password, sentinelPassword: deployment.sentinelPassword, tls: { ca } },
      10_000,
    );
    const rejection = await verifier.verify(pair.access_token).then(() => undefined, (err: unknown) => err);
    expect(rejection).toBeInstanceOf(VerifyError);
    expect((rejection as VerifyError).code).toBe('revoked');
    expect(verifier.status()).toBe('ok');

    for (const secret of [deployment.password, deployment.sentinelPassword]) expect(withTls.output()).not.toContain(secret);
  });

  it('without REDIS_TLS (plain TCP to TLS-only ports) Redis is never reached', async () => {
    expect(withoutTls.output()).toContain('"initial_load_failed"');
    expect(await denylistReadiness(withoutTls)).toBe('degraded');
    // A logout is applied locally but never confirmed by Redis.
    const { pair } = await registerAndLogin(withoutTls.url);
    expect((await post(withoutTls.url, '/auth/logout', { refresh_token: pair.refresh_token })).status).toBe(503);
    const primary = deployment.client(await deployment.primaryPort());
    expect(await primary.exists(`${prefix}deny:session:${sidOf(pair.access_token)}`)).toBe(0);
    for (const secret of [deployment.password, deployment.sentinelPassword]) expect(withoutTls.output()).not.toContain(secret);

    // TLS with Node's root CAs only: the private CA's certificates are refused, never skipped.
    const verifier = newVerifier(
      { sentinels: deployment.addresses, name: MASTER_NAME, password: deployment.password, sentinelPassword: deployment.sentinelPassword, tls: true },
      1_500,
    );
    const rejection = await verifier.verify(pair.access_token).then(() => undefined, (err: unknown) => err);
    expect((rejection as VerifyError).code).toBe('revocation_unavailable');
    expect(verifier.status()).toBe('degraded');
  });
});
