// The durable outbox: a logout taken while Redis is unreachable is kept in SQL, so when the
// replica that took it is killed (SIGKILL: no shutdown, its memory gone) before Redis
// returns, another replica still delivers it to Redis, every replica and the resource
// service, and the revocation feed carries it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, FEED_CLIENT, FEED_CLIENTS_ENV, SseStream, type WireEntry } from '../revocation/feed-kit.ts';
import { RedisProxy } from '../revocation/redis-kit.ts';
import { bearerStatus, CLIENT, post, registerAndLogin, rejectedWithin, startCluster, type Cluster } from './cluster-kit.ts';

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const denylistStatus = async (url: string) => ((await (await fetch(`${url}/readyz`)).json()) as { denylist: string }).denylist;
const sidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;

describe('a revocation taken while Redis is down survives the death of its replica', () => {
  const proxy = new RedisProxy();
  let cluster: Cluster;

  beforeAll(async () => {
    await proxy.start();
    cluster = await startCluster({
      replicas: 3,
      redisUrl: proxy.url,
      extraEnv: { REVOCATION_WRITE_TIMEOUT_MS: '500', INTROSPECTION_CLIENTS: `${CLIENT.id}:${CLIENT.secret},${FEED_CLIENTS_ENV}` },
    });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await proxy.close();
  });

  it('SIGKILL the replica that answered 503; Redis back; every other replica and the service reject the token', async () => {
    const [a, b, c] = cluster.replicas as [(typeof cluster.replicas)[0], (typeof cluster.replicas)[0], (typeof cluster.replicas)[0]];
    const isService = (t: unknown) => t === cluster.service;
    const victim = await registerAndLogin(b.url);
    for (const target of [b, c, cluster.service]) expect(await bearerStatus(target, victim.pair.access_token, isService(target))).toBe(200);
    // A feed client connected to B through the whole outage.
    const feed = await SseStream.open(`${b.url}/revocations/stream`, basic(FEED_CLIENT));
    await feed.until(() => feed.snapshots().length === 1, 'the snapshot');

    await proxy.cut();
    await until(async () => (await Promise.all(cluster.replicas.map((r) => denylistStatus(r.url)))).every((s) => s === 'degraded'), 'every replica to see Redis gone');

    const logout = await post(a.url, '/auth/logout', { refresh_token: victim.pair.refresh_token });
    expect(logout.status).toBe(503);
    expect(await bearerStatus(a, victim.pair.access_token)).toBe(401);
    // Nobody else knows yet: pub/sub is down.
    expect(await bearerStatus(b, victim.pair.access_token)).toBe(200);

    expect(await a.stop('SIGKILL')).toBe(null);

    await proxy.restore();
    const since = performance.now();
    const times = await Promise.all([b, c, cluster.service].map((t) => rejectedWithin(t, victim.pair.access_token, since, isService(t), 20_000)));
    console.log(`revocation taken by the killed replica reached B, C and the resource service ${times.map((t) => t.toFixed(0)).join(' / ')} ms after Redis came back`);

    // The feed carries it too: live to the client that stayed connected, and to a poll of any surviving replica.
    try {
      await feed.until(() => feed.revocations().some((e) => e.sid === sidOf(victim.pair.access_token)), 'the revocation on the open stream', 20_000);
      console.log(`…and the feed client connected to B through the outage ${(performance.now() - since).toFixed(0)} ms after`);
    } finally {
      feed.close();
    }
    const res = await fetch(`${c.url}/revocations`, { headers: basic(FEED_CLIENT) });
    expect(res.status).toBe(200);
    const page = (await res.json()) as { entries: WireEntry[] };
    expect(page.entries).toContainEqual(expect.objectContaining({ kind: 'session', sid: sidOf(victim.pair.access_token) }));
    await until(async () => (await Promise.all([b, c].map((r) => denylistStatus(r.url)))).every((s) => s === 'ok'), 'the survivors to report ok');
  });
});
