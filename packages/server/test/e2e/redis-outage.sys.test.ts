// Redis goes away under a running cluster: verification keeps working from each
// replica's mirror, revoked tokens stay revoked, a revocation made meanwhile is kept and
// answered 503, and when Redis is back it reaches every replica and the resource service.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisProxy } from '../revocation/redis-kit.ts';
import { bearerStatus, loginAs, post, registerAndLogin, rejectedWithin, startCluster, type Cluster } from './cluster-kit.ts';

async function readiness(url: string) {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as { denylist: string } };
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Redis outage under three replicas', () => {
  const proxy = new RedisProxy();
  let cluster: Cluster;

  beforeAll(async () => {
    await proxy.start();
    cluster = await startCluster({ replicas: 3, redisUrl: proxy.url, extraEnv: { REVOCATION_WRITE_TIMEOUT_MS: '500' } });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await proxy.close();
  });

  it('keeps verifying from the mirrors, keeps revocations, and delivers the one made while down', async () => {
    const [a, b, c] = cluster.replicas as [typeof cluster.replicas[0], typeof cluster.replicas[0], typeof cluster.replicas[0]];
    const everyone = [...cluster.replicas, cluster.service];
    const isService = (t: unknown) => t === cluster.service;
    const before = await registerAndLogin(a.url);
    const alive = await registerAndLogin(b.url);
    const during = await registerAndLogin(c.url);
    expect((await post(a.url, '/auth/logout', { refresh_token: before.pair.refresh_token })).status).toBe(204);
    await Promise.all(everyone.map((t) => rejectedWithin(t, before.pair.access_token, performance.now(), isService(t))));

    await proxy.cut();
    await until(async () => (await Promise.all(cluster.replicas.map((r) => readiness(r.url)))).every((r) => r.body.denylist === 'degraded'), 'every replica to report a degraded denylist');
    // Still in rotation: a degraded denylist does not make a replica unready.
    for (const replica of cluster.replicas) expect((await readiness(replica.url)).status).toBe(200);

    for (const target of everyone) {
      expect(await bearerStatus(target, alive.pair.access_token, isService(target))).toBe(200);
      expect(await bearerStatus(target, before.pair.access_token, isService(target))).toBe(401);
    }
    // Login and refresh live in SQL and keep working.
    const loggedIn = await loginAs(b.url, alive.email);
    expect((await post(c.url, '/auth/refresh', { refresh_token: loggedIn.refresh_token })).status).toBe(200);

    // A revocation while Redis is down: applied on A at once, not confirmed everywhere → 503.
    const logout = await post(a.url, '/auth/logout', { refresh_token: during.pair.refresh_token });
    expect(logout.status).toBe(503);
    expect(((await logout.json()) as { code: string }).code).toBe('service_unavailable');
    expect(await bearerStatus(a, during.pair.access_token)).toBe(401);
    // Its refresh token is dead everywhere already: the session is revoked in SQL.
    expect((await post(b.url, '/auth/refresh', { refresh_token: during.pair.refresh_token })).status).toBe(401);

    await proxy.restore();
    const since = performance.now();
    const times = await Promise.all(
      [b, c, cluster.service].map((t) => rejectedWithin(t, during.pair.access_token, since, isService(t), 20_000)),
    );
    console.log(`revocation made during the outage reached B, C and the resource service ${times.map((t) => t.toFixed(0)).join(' / ')} ms after Redis came back`);
    await until(async () => (await Promise.all(cluster.replicas.map((r) => readiness(r.url)))).every((r) => r.body.denylist === 'ok'), 'the denylist to recover');
    expect(await bearerStatus(a, alive.pair.access_token)).toBe(200);
  });
});
