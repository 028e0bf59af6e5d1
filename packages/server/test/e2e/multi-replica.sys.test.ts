// Three replicas behind a round-robin client behave as one server: no session mismatch,
// and a logout or password change on one is honoured by all of them and by the resource
// service within milliseconds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT, bearerStatus, loginAs, post, registerAndLogin, rejectedWithin, startCluster, type Cluster, type Pair } from './cluster-kit.ts';

describe('three replicas sharing PostgreSQL, Redis and keys/', () => {
  let cluster: Cluster;
  let turn = 0;
  /** The round-robin balancer: every call goes to the next replica. */
  const next = () => cluster.replicas[turn++ % cluster.replicas.length]!;
  const a = () => cluster.replicas[0]!;
  const b = () => cluster.replicas[1]!;
  const c = () => cluster.replicas[2]!;

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 3 });
  }, 120_000);
  afterAll(() => cluster?.stop());

  it('logs in on A, reads /auth/me on B, refreshes on C, calls the resource service; a logout on B reaches everyone', async () => {
    const { pair } = await registerAndLogin(a().url);
    expect(await bearerStatus(b(), pair.access_token)).toBe(200);
    const refreshed = await post(c().url, '/auth/refresh', { refresh_token: pair.refresh_token });
    expect(refreshed.status).toBe(200);
    const current = (await refreshed.json()) as Pair;
    expect(await bearerStatus(cluster.service, current.access_token, true)).toBe(200);
    for (let i = 0; i < 6; i++) expect(await bearerStatus(next(), current.access_token)).toBe(200);

    const logout = await post(b().url, '/auth/logout', { refresh_token: current.refresh_token });
    expect(logout.status).toBe(204);
    const since = performance.now();
    const times = await Promise.all([
      rejectedWithin(a(), current.access_token, since),
      rejectedWithin(c(), current.access_token, since),
      rejectedWithin(cluster.service, current.access_token, since, true),
    ]);
    console.log(`logout propagation after the 204 from B: A ${times[0].toFixed(1)} ms, C ${times[1].toFixed(1)} ms, resource service ${times[2].toFixed(1)} ms`);
    for (const replica of cluster.replicas) {
      const res = await post(replica.url, '/auth/refresh', { refresh_token: current.refresh_token });
      expect(res.status).toBe(401);
    }
  });

  it('a password change kills every older access and refresh token of the user everywhere', async () => {
    const { email, password, pair: first } = await registerAndLogin(a().url);
    const second = await loginAs(c().url, email, password);
    const change = await post(b().url, '/auth/password', { current_password: password, new_password: 'a brand new passphrase' }, { authorization: `Bearer ${first.access_token}` });
    expect(change.status).toBe(200);
    const fresh = (await change.json()) as Pair;
    const since = performance.now();
    for (const old of [first, second]) {
      await Promise.all([...cluster.replicas.map((r) => rejectedWithin(r, old.access_token, since)), rejectedWithin(cluster.service, old.access_token, since, true)]);
      for (const replica of cluster.replicas) expect((await post(replica.url, '/auth/refresh', { refresh_token: old.refresh_token })).status).toBe(401);
    }
    console.log(`password change: every older token rejected everywhere ${(performance.now() - since).toFixed(1)} ms after the response`);
    for (const replica of cluster.replicas) expect(await bearerStatus(replica, fresh.access_token)).toBe(200);
    expect(await bearerStatus(cluster.service, fresh.access_token, true)).toBe(200);
    expect((await post(next().url, '/auth/refresh', { refresh_token: fresh.refresh_token })).status).toBe(200);
    expect((await post(next().url, '/auth/login', { email, password })).status).toBe(401);
    await loginAs(next().url, email, 'a brand new passphrase');
  });

  it('a replica restarted mid-test comes back with the denylist intact', async () => {
    const { pair } = await registerAndLogin(a().url);
    const { pair: other } = await registerAndLogin(a().url);
    // An access token revoked on its own (RFC 7009) exists only in the denylist, not in SQL.
    const basic = `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`;
    const revoke = await fetch(`${a().url}/oauth/revoke`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: pair.access_token, token_type_hint: 'access_token' }),
    });
    expect(revoke.status).toBe(200);
    await rejectedWithin(b(), pair.access_token, performance.now());

    const restarted = await cluster.restart(1);
    expect(await bearerStatus(restarted, pair.access_token)).toBe(401);
    expect(await bearerStatus(restarted, other.access_token)).toBe(200);
    // And it keeps receiving new revocations.
    expect((await post(c().url, '/auth/logout', { refresh_token: other.refresh_token })).status).toBe(204);
    await rejectedWithin(restarted, other.access_token, performance.now());
  });
});
