// Redis ACL users under Sentinel (REDIS_USERNAME, REDIS_SENTINEL_USERNAME; the verifier's
// redisSentinel.username / sentinelUsername) against a real deployment whose `default` user
// is off on every node, as managed and hardened Redis runs. The same start without the
// usernames (passwords only: AUTH as `default`) must fail to reach Redis, so nothing here
// passes unless the usernames are really used.
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

describe.skipIf(!sentinelAvailable())('Redis ACL users under Sentinel (default user off everywhere)', () => {
  let deployment: SentinelDeployment;
  const testDbs: TestDb[] = [];
  let keysDir: string;
  const prefix = uniquePrefix('sentinel-acl');
  const processes: TesseraProcess[] = [];
  const verifiers: Verifier[] = [];
  let withUsers: TesseraProcess;
  let withoutUsers: TesseraProcess;

  beforeAll(async () => {
    // A database each: one replica's revocation outbox is drained by any other, so sharing
    // one would let the replica with the users write what the other could not.
    let dbs: TestDb[];
    [deployment, ...dbs] = await Promise.all([startSentinelDeployment({ acl: true }), createTestDb('postgres'), createTestDb('postgres')]);
    testDbs.push(...dbs);
    keysDir = tempDir('tessera-keys-');
    const env = {
      ...deployment.redisEnv({ usernames: false }),
      REDIS_KEY_PREFIX: prefix,
      KEYS_DIR: keysDir,
      ISSUER,
      REVOCATION_WRITE_TIMEOUT_MS: '1000',
      LOG_LEVEL: 'info',
    };
    // Side by side (the one without usernames waits out its first denylist load).
    [withUsers, withoutUsers] = await Promise.all([
      startProcess({
        env: { ...env, ...deployment.redisEnv(), DATABASE_URL: urlWithSchema(dbs[0]!.schema!) },
      }),
      startProcess({ env: { ...env, DATABASE_URL: urlWithSchema(dbs[1]!.schema!) } }),
    ]);
    processes.push(withUsers, withoutUsers);
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
      jwksUri: `${withUsers.url}/.well-known/jwks.json`,
      revocation: { redisSentinel, keyPrefix: prefix, readyTimeoutMs },
      onError: () => {},
    });
    verifiers.push(verifier);
    return verifier;
  };

  it('logs in as the ACL users: a logout reaches the primary, and a verifier loads it', async () => {
    expect(await denylistReadiness(withUsers)).toBe('ok');
    const { pair } = await registerAndLogin(withUsers.url);
    expect((await post(withUsers.url, '/auth/logout', { refresh_token: pair.refresh_token })).status).toBe(204);
    const primary = deployment.client(await deployment.primaryPort());
    expect(await primary.exists(`${prefix}deny:session:${sidOf(pair.access_token)}`)).toBe(1);

    // The library, given the same users: its first load must see the revocation.
    const verifier = newVerifier(
      {
        sentinels: deployment.addresses,
        name: MASTER_NAME,
        username: deployment.username!,
        password: deployment.password,
        sentinelUsername: deployment.sentinelUsername!,
        sentinelPassword: deployment.sentinelPassword,
      },
      10_000,
    );
    const rejection = await verifier.verify(pair.access_token).then(() => undefined, (err: unknown) => err);
    expect(rejection).toBeInstanceOf(VerifyError);
    expect((rejection as VerifyError).code).toBe('revoked');
    expect(verifier.status()).toBe('ok');

    // Nothing logged a credential.
    for (const secret of [deployment.password, deployment.sentinelPassword]) expect(withUsers.output()).not.toContain(secret);
  });

  it('without the usernames (AUTH as the disabled default user) Redis is never reached', async () => {
    expect(withoutUsers.output()).toContain('"initial_load_failed"');
    expect(await denylistReadiness(withoutUsers)).toBe('degraded');
    // A logout is applied locally but never confirmed by Redis.
    const { pair } = await registerAndLogin(withoutUsers.url);
    expect((await post(withoutUsers.url, '/auth/logout', { refresh_token: pair.refresh_token })).status).toBe(503);
    const primary = deployment.client(await deployment.primaryPort());
    expect(await primary.exists(`${prefix}deny:session:${sidOf(pair.access_token)}`)).toBe(0);
    for (const secret of [deployment.password, deployment.sentinelPassword]) expect(withoutUsers.output()).not.toContain(secret);

    const verifier = newVerifier({ sentinels: deployment.addresses, name: MASTER_NAME, password: deployment.password, sentinelPassword: deployment.sentinelPassword }, 1_500);
    const rejection = await verifier.verify(pair.access_token).then(() => undefined, (err: unknown) => err);
    expect((rejection as VerifyError).code).toBe('revocation_unavailable');
    expect(verifier.status()).toBe('degraded');
  });
});
