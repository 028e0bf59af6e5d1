// Fault test: Redis behind Sentinel (Debian redis-server + redis-sentinel: one primary, one
// replica, three sentinels on loopback), three compiled Tessera replicas and an in-process
// verifier, all configured with REDIS_SENTINELS. Under steady verification and revocation
// load the primary is SIGKILLed. Verification must never fail, and every revocation made
// before, during and after the failover must reach every replica, the verifier's mirror,
// the promoted primary (a verifier started afterwards) and the revocation feed.
import fs from 'node:fs';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisSentinel, skipUnless } from '../../../../test/lib/requirements.ts';
import { createVerifier, type Verifier } from '@tessera/verifier';
import { tempDir } from '../helpers/app.ts';
import { createTestDb, urlWithSchema, type TestDb } from '../helpers/db.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { RESOURCE_SERVICE, startProcess, type TesseraProcess } from '../helpers/process.ts';
import { DenylistMirror } from '@tessera/verifier';
import { syncDenylistFromRedis, type DenylistSync } from '@tessera/verifier/redis';
import { denylistKey } from '@tessera/verifier/internal';
import { sleep, uniquePrefix } from '../revocation/redis-kit.ts';
import { MASTER_NAME, startSentinelDeployment, type SentinelDeployment } from '../sentinel/sentinel-kit.ts';
import { bearerStatus, post, type Pair } from './cluster-kit.ts';
import { expectDenylistsInStep, FEED_CLIENT, feedSessionIds, followFeed, isRevokedBy, percentile, startFailoverLoad, type Revocation } from './failover-kit.ts';

const ISSUER = 'http://tessera.test';
const SESSIONS = 70;
const REVOKE_EVERY_MS = 200;
const STEADY_BEFORE_KILL_MS = 3_000;
const KEEP_GOING_AFTER_FAILOVER_MS = 4_000;


async function scanValues(redis: Redis, pattern: string): Promise<Map<string, string | null>> {
  const values = new Map<string, string | null>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) values.set(key, await redis.get(key).catch(() => null));
  } while (cursor !== '0');
  return values;
}

skipUnless(redisSentinel)('Redis Sentinel failover under load', () => {
  let deployment: SentinelDeployment;
  let testDb: TestDb;
  let keysDir: string;
  const prefix = uniquePrefix('sentinel');
  const replicas: TesseraProcess[] = [];
  const verifiers: Verifier[] = [];
  let service: TesseraProcess | undefined;
  let rawSync: DenylistSync | undefined;
  let sentinelOptions: { sentinels: { host: string; port: number }[]; name: string; password: string; sentinelPassword: string };

  const newVerifier = (): Verifier => {
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: 'tessera',
      jwksUri: `${replicas[0]!.url}/.well-known/jwks.json`,
      revocation: { redisSentinel: sentinelOptions, keyPrefix: prefix, readyTimeoutMs: 10_000 },
    });
    verifiers.push(verifier);
    return verifier;
  };

  beforeAll(async () => {
    [deployment, testDb] = await Promise.all([startSentinelDeployment(), createTestDb('postgres')]);
    keysDir = tempDir('tessera-keys-');
    sentinelOptions = { sentinels: deployment.addresses, name: MASTER_NAME, password: deployment.password, sentinelPassword: deployment.sentinelPassword };
    const env = {
      DATABASE_URL: urlWithSchema(testDb.schema!),
      ...deployment.redisEnv(),
      REDIS_KEY_PREFIX: prefix,
      KEYS_DIR: keysDir,
      ISSUER,
      INTROSPECTION_CLIENTS: `${FEED_CLIENT.id}:${FEED_CLIENT.secret}:introspect+revocations`,
      // Rate limiting stays on (its counters follow the failover too), with room for the test's logins.
      RATE_LIMIT_IP_PER_MINUTE: '100000',
      REVOCATION_WRITE_TIMEOUT_MS: '1000',
      LOG_LEVEL: 'info',
    };
    replicas.push(await startProcess({ env }));
    replicas.push(...(await Promise.all([startProcess({ env }), startProcess({ env })])));
    // The example resource service, configured with the same variables as Tessera.
    service = await startProcess({
      script: RESOURCE_SERVICE,
      env: { ISSUER, JWKS_URI: `${replicas[0]!.url}/.well-known/jwks.json`, ...deployment.redisEnv(), REDIS_KEY_PREFIX: prefix },
    });
    // Five Redis processes, three Tesseras and a service on a loaded 2-core machine: the
    // set-up is not what this test bounds.
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...verifiers.map((v) => v.close()), rawSync?.close()]);
    await Promise.all([...replicas, ...(service ? [service] : [])].map((r) => r.stop('SIGKILL')));
    await deployment?.stop();
    await testDb?.drop();
    if (keysDir) fs.rmSync(keysDir, { recursive: true, force: true });
  });

  it('loses no revocation and fails no verification when the primary is SIGKILLed', async () => {
    const email = uniqueEmail();
    expect((await post(replicas[0]!.url, '/auth/register', { email, password: PASSWORD })).status).toBe(201);
    const login = async (i: number): Promise<Pair> => {
      const res = await post(replicas[i % 3]!.url, '/auth/login', { email, password: PASSWORD });
      expect(res.status).toBe(200);
      return (await res.json()) as Pair;
    };
    const live = await login(0);
    const sessions: Pair[] = [];
    for (let i = 0; i < SESSIONS; i += 3) sessions.push(...(await Promise.all([i, i + 1, i + 2].map(login))));
    const verifier = newVerifier();
    await verifier.verify(live.access_token); // first denylist load done
    // The library's sync given ioredis' own Sentinel options, as they are.
    const rawMirror = new DenylistMirror();
    // Its status goes 'degraded' when the subscriber loses the primary and 'ok' only after it
    // re-subscribed and reloaded the whole denylist from the new one.
    const rawChanges: string[] = [];
    rawSync = syncDenylistFromRedis({ redis: { ...sentinelOptions }, keyPrefix: prefix, mirror: rawMirror, onChange: (status) => rawChanges.push(status) });
    await rawSync.ready;
    const serviceTarget = service!;

    // Steady load: verification (must never fail) and revocations on rotating replicas.
    const load = startFailoverLoad({ replicas, service: serviceTarget, verifier, liveToken: live.access_token, sessions, revokeEveryMs: REVOKE_EVERY_MS });
    const { verification, revocations } = load;
    let feedFinal = false;
    const follower = followFeed(replicas, () => feedFinal);

    await sleep(STEADY_BEFORE_KILL_MS);
    const oldPort = deployment.primary.port;
    const killedAt = performance.now();
    load.phase = 'during';
    await deployment.primary.kill();
    for (;;) {
      const port = await deployment.primaryPort().catch(() => oldPort);
      if (port !== oldPort) break;
      if (performance.now() - killedAt > 15_000) throw new Error('no failover within 15 s');
      await sleep(50);
    }
    const switchedAt = performance.now();
    load.phase = 'after';
    await sleep(KEEP_GOING_AFTER_FAILOVER_MS);
    await load.stop(); // and every logout answered

    // Where every revocation must be now.
    const newPrimary = deployment.client(await deployment.primaryPort());
    const stored = await scanValues(newPrimary, `${prefix}{revocations}:deny:session:*`);
    const late = newVerifier(); // starts after the failover: loads only what the promoted primary holds
    await late.verify(live.access_token);
    const lost = { replicas: [0, 0, 0], service: 0, verifier: 0, rawSync: 0, lateVerifier: 0, promotedPrimary: 0, feed: [0, 0, 0], feedFollower: 0 };
    const at = Date.now();
    const feeds = await Promise.all(replicas.map(feedSessionIds));
    // The polling client's last pass starts now, after every revocation was seen by the mirror.
    feedFinal = true;
    await follower.done;
    for (const r of revocations) {
      for (const [i, replica] of replicas.entries()) if ((await bearerStatus(replica, r.token)) !== 401) lost.replicas[i]!++;
      if ((await bearerStatus(serviceTarget, r.token, true)) !== 401) lost.service++;
      if (!(await isRevokedBy(verifier, r.token))) lost.verifier++;
      if (!rawMirror.isRevoked({ sid: r.sid, jti: 'unused', sub: 'unused', iat: Math.floor(at / 1000) }, at)) lost.rawSync++;
      if (!(await isRevokedBy(late, r.token))) lost.lateVerifier++;
      if (!stored.has(denylistKey(prefix, { kind: 'session', id: r.sid }))) lost.promotedPrimary++;
      for (const [i, feed] of feeds.entries()) if (feed && !feed.has(r.sid)) lost.feed[i]!++;
      if (feeds[0] && !follower.sids.has(r.sid)) lost.feedFollower++;
    }

    // Rate limits and login throttling write to the promoted primary too.
    const countersBefore = await scanValues(newPrimary, `${prefix}ratelimit:*`);
    const sum = (m: Map<string, string | null>) => [...m.values()].reduce((n, v) => n + Number(v ?? 0), 0);
    await login(1);
    expect(sum(await scanValues(newPrimary, `${prefix}ratelimit:*`))).toBeGreaterThan(sum(countersBefore));
    expect((await post(replicas[2]!.url, '/auth/login', { email, password: 'not the password' })).status).toBe(401);
    expect((await scanValues(newPrimary, `${prefix}throttle:*`)).size).toBeGreaterThan(0);

    const byPhase = (p: Revocation['phase']) => revocations.filter((r) => r.phase === p);
    const delays = (list: Revocation[]) => list.filter((r) => r.seenAt !== undefined).map((r) => r.seenAt! - r.sentAt);
    const fmt = (list: Revocation[]) => {
      const d = delays(list);
      return `${list.length} made (${list.filter((r) => r.status === 204).length}×204, ${list.filter((r) => r.status === 503).length}×503), propagation p50 ${percentile(d, 50).toFixed(0)} ms, max ${Math.max(0, ...d).toFixed(0)} ms`;
    };
    const stall = Math.max(0, ...delays(revocations));
    // What each replica wrote again on the promoted primary (its recently confirmed revocations).
    const replayed = replicas.map((r) =>
      r.output().split('\n').filter((line) => line.includes('"denylist.replay"')).map((line) => Number(/"count":(\d+)/.exec(line)?.[1] ?? 0)).reduce((a, b) => a + b, 0),
    );
    const totalLost = [...lost.replicas, lost.service, lost.verifier, lost.rawSync, lost.lateVerifier, lost.promotedPrimary, ...lost.feed, lost.feedFollower].reduce((a, b) => a + b, 0);
    console.log(
      [
        `Sentinel failover: primary SIGKILLed, sentinels named the new one after ${(switchedAt - killedAt).toFixed(0)} ms`,
        `  revocations before: ${fmt(byPhase('before'))}`,
        `  revocations during: ${fmt(byPhase('during'))}`,
        `  revocations after:  ${fmt(byPhase('after'))}`,
        `  made ${revocations.length}, lost ${totalLost} (replicas ${lost.replicas.join('/')}, resource service ${lost.service}, verifier mirror ${lost.verifier}, sync with raw ioredis options ${lost.rawSync}, verifier started after ${lost.lateVerifier}, promoted primary ${lost.promotedPrimary}, feed ${feeds.some(Boolean) ? `${lost.feed.join('/')}, polling client holding a cursor ${lost.feedFollower} (${follower.snapshots} snapshots)` : 'not in this build'})`,
        `  propagation stall (longest revocation → verifier mirror): ${stall.toFixed(0)} ms; replayed on the promoted primary by each replica: ${replayed.join('/')}`,
        `  verifications ${verification.made}, failed ${verification.failed.length}`,
      ].join('\n'),
    );
    expect(verification.failed).toEqual([]);
    expect(revocations.every((r) => r.status === 204 || r.status === 503)).toBe(true);
    expect(byPhase('before').length).toBeGreaterThan(0);
    expect(byPhase('during').length).toBeGreaterThan(0);
    expect(byPhase('after').length).toBeGreaterThan(0);
    expect(lost).toEqual({ replicas: [0, 0, 0], service: 0, verifier: 0, rawSync: 0, lateVerifier: 0, promotedPrimary: 0, feed: [0, 0, 0], feedFollower: 0 });
    expect(rawSync.status()).toBe('ok');
    expect(rawChanges).toContain('degraded');
    expect(rawChanges.at(-1)).toBe('ok');
    expect(revocations.every((r) => r.seenAt !== undefined)).toBe(true);
    // And every replica's denylist is in step with the promoted primary again.
    await expectDenylistsInStep(replicas);
    // Failover warnings and all: no process ever logged a Redis password.
    for (const p of [...replicas, serviceTarget]) {
      expect(p.output()).not.toContain(deployment.password);
      expect(p.output()).not.toContain(deployment.sentinelPassword);
    }
  }, 45_000);
});
