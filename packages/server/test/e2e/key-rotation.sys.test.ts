// Rotating keys under traffic across three replicas and a verifier holding a cached
// JWKS: not a single valid token may be rejected.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier } from '@tessera/verifier';
import { decodeJwt } from '../helpers/flows.ts';
import { REPO_ROOT, SERVER_CLI } from '../helpers/process.ts';
import { ISSUER, bearerStatus, post, registerAndLogin, startCluster, type Cluster, type Pair } from './cluster-kit.ts';

describe('key rotation under traffic', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ replicas: 3, extraEnv: { JWKS_MAX_AGE: '2', KEYS_RELOAD_INTERVAL: '1', RATE_LIMIT_ENABLED: 'false' } });
  }, 120_000);
  afterAll(() => cluster?.stop());

  it('publishes, switches and retires keys without a single rejected token', async () => {
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: 'tessera',
      jwksUri: `${cluster.replicas[0]!.url}/.well-known/jwks.json`,
      jwksCooldownMs: 500,
    });
    const users = await Promise.all([0, 1, 2, 3].map((i) => registerAndLogin(cluster.replicas[i % 3]!.url)));
    const pairs: Pair[] = users.map((u) => u.pair);
    await verifier.verify(pairs[0]!.access_token); // the verifier now holds a cached JWKS
    const oldKid = decodeJwt(pairs[0]!.access_token).header.kid as string;
    const earlyTokens = pairs.map((p) => p.access_token);

    let rotatedAt: number | undefined;
    let activatesAt = Infinity;
    const rejected: string[] = [];
    const kidsSeen = new Set<string>();
    let checks = 0;
    let turn = 0;
    const started = Date.now();
    // Traffic until the new key has been signing for a few seconds (bounded: 60 s).
    while (Date.now() < Math.min(activatesAt + 4_000, started + 60_000)) {
      if (rotatedAt === undefined && Date.now() - started > 1_000) {
        const result = spawnSync(process.execPath, [SERVER_CLI, 'keys', 'rotate'], {
          cwd: REPO_ROOT,
          env: { PATH: process.env.PATH, ...cluster.env },
          encoding: 'utf8',
          timeout: 30_000,
        });
        expect(result.status, result.stderr).toBe(0);
        activatesAt = Date.parse(/signs from (\S+)/.exec(result.stdout)![1]!);
        rotatedAt = Date.now();
      }
      const i = turn++ % pairs.length;
      const replica = cluster.replicas[turn % 3]!;
      const res = await post(replica.url, '/auth/refresh', { refresh_token: pairs[i]!.refresh_token });
      if (res.status !== 200) {
        rejected.push(`refresh on ${replica.url}: ${res.status} ${await res.text()}`);
        continue;
      }
      pairs[i] = (await res.json()) as Pair;
      const token = pairs[i]!.access_token;
      kidsSeen.add(decodeJwt(token).header.kid as string);
      for (const target of cluster.replicas) {
        const status = await bearerStatus(target, token);
        if (status !== 200) rejected.push(`/auth/me on ${target.url}: ${status}`);
      }
      await verifier.verify(token).catch((err: Error & { code?: string }) => rejected.push(`verifier: ${err.code}`));
      checks++;
    }
    console.log(`${checks} fresh tokens, each checked on 3 replicas and the verifier; kids seen: ${kidsSeen.size}; rejected: ${rejected.length}`);
    expect(rejected.slice(0, 5)).toEqual([]);
    expect(rejected).toHaveLength(0);
    expect(kidsSeen.size).toBe(2);
    const newKid = [...kidsSeen].find((k) => k !== oldKid)!;
    // After the switch every replica signs with the new key...
    for (const replica of cluster.replicas) {
      const { pair } = await registerAndLogin(replica.url);
      expect(decodeJwt(pair.access_token).header.kid).toBe(newKid);
    }
    // ...and tokens signed by the old key before the switch still verify everywhere.
    for (const token of earlyTokens) {
      await verifier.verify(token);
      for (const target of cluster.replicas) expect(await bearerStatus(target, token)).toBe(200);
    }
    const jwks = (await (await fetch(`${cluster.replicas[2]!.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([oldKid, newKid].sort());
    await verifier.close();
  });
});
