// Three replica processes, the example resource service and Redis: a second factor and the
// admin API as users and operators meet them through a round-robin balancer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { codeFor, nextStep } from '../helpers/totp.ts';
import { bearerStatus, post, registerAndLogin, rejectedWithin, startCluster, type Cluster, type Pair } from './cluster-kit.ts';

const ADMIN = { id: 'ops', secret: 'cluster-admin-secret' };
const adminHeaders = { authorization: `Basic ${Buffer.from(`${ADMIN.id}:${ADMIN.secret}`).toString('base64')}` };
const MFA_ACR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';

describe('second factor and admin API on three replicas', () => {
  let cluster: Cluster;
  const replica = (i: number) => cluster.replicas[i % cluster.replicas.length]!;

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 3, extraEnv: { ADMIN_CLIENTS: `${ADMIN.id}:${ADMIN.secret}` } });
  }, 120_000);
  afterAll(() => cluster?.stop());

  it('enrols on A, confirms on B, logs in on C; a code replayed on another replica is refused; the example service asks for a step-up', async () => {
    const { email, pair } = await registerAndLogin(replica(0).url);
    const auth = { authorization: `Bearer ${pair.access_token}` };
    const transfer = await fetch(`${cluster.service.url}/api/transfers`, { method: 'POST', headers: auth });
    expect(transfer.status).toBe(401);
    expect(transfer.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_user_authentication", error_description="A second factor is required", acr_values="${MFA_ACR}", max_age="300"`,
    );

    const enroll = await post(replica(0).url, '/auth/mfa/totp/enroll', { password: PASSWORD }, auth);
    expect(enroll.status).toBe(200);
    const { secret } = (await enroll.json()) as { secret: string };
    // The processes run on real time: wait for a step no code has been used in.
    const confirmAt = Date.now();
    const confirm = await post(replica(1).url, '/auth/mfa/totp/confirm', { code: codeFor(secret, confirmAt) }, auth);
    expect(confirm.status).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, nextStep(confirmAt) + 500 - Date.now())));

    const code = codeFor(secret, Date.now());
    const first = (await (await post(replica(2).url, '/auth/login', { email, password: PASSWORD })).json()) as { mfa_token: string };
    const verified = await post(replica(2).url, '/auth/mfa/verify', { mfa_token: first.mfa_token, code });
    expect(verified.status).toBe(200);
    const strong = (await verified.json()) as Pair;
    const second = (await (await post(replica(0).url, '/auth/login', { email, password: PASSWORD })).json()) as { mfa_token: string };
    const replay = await post(replica(1).url, '/auth/mfa/verify', { mfa_token: second.mfa_token, code });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { code: string }).code).toBe('invalid_mfa_code');

    const allowed = await fetch(`${cluster.service.url}/api/transfers`, { method: 'POST', headers: { authorization: `Bearer ${strong.access_token}` } });
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toMatchObject({ accepted: true, amr: ['pwd', 'otp'] });
    // Waiting for a fresh TOTP step alone can take 30 s.
  }, 90_000);

  it("an admin's \"end all sessions\" is honoured by every replica and the resource service within milliseconds", async () => {
    const email = uniqueEmail('admin-e2e');
    const created = await post(replica(0).url, '/admin/users', { email, password: PASSWORD, roles: ['admin'] }, adminHeaders);
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    // Three devices, logged in through three replicas.
    const pairs: Pair[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await post(replica(i).url, '/auth/login', { email, password: PASSWORD });
      pairs.push((await res.json()) as Pair);
    }
    for (const p of pairs) {
      for (const r of cluster.replicas) expect(await bearerStatus(r, p.access_token)).toBe(200);
      expect(await bearerStatus(cluster.service, p.access_token, true)).toBe(200);
    }
    const admin = await fetch(`${cluster.service.url}/api/admin/overview`, { headers: { authorization: `Bearer ${pairs[0]!.access_token}` } });
    expect(admin.status).toBe(200);

    // One authorised round trip per target, for scale: each poll below costs as much.
    const before = performance.now();
    await Promise.all([...cluster.replicas.map((r) => bearerStatus(r, pairs[0]!.access_token)), bearerStatus(cluster.service, pairs[0]!.access_token, true)]);
    const roundTrip = performance.now() - before;
    const end = await fetch(`${replica(1).url}/admin/users/${id}/sessions`, { method: 'DELETE', headers: adminHeaders });
    expect(end.status).toBe(200);
    expect(await end.json()).toEqual({ sessions_ended: 3 });
    const since = performance.now();
    // Timed with one token per target (each poller is an HTTP round trip on a busy machine);
    // every other token is checked after.
    const [a, b, c, service] = await Promise.all([
      ...cluster.replicas.map((r) => rejectedWithin(r, pairs[0]!.access_token, since)),
      rejectedWithin(cluster.service, pairs[0]!.access_token, since, true),
    ]);
    console.log(
      `admin "end all sessions" answered by B → a token of the user rejected by A ${a!.toFixed(1)} ms, B ${b!.toFixed(1)} ms, C ${c!.toFixed(1)} ms, resource service ${service!.toFixed(1)} ms later (one parallel round of authorised requests took ${roundTrip.toFixed(1)} ms just before)`,
    );
    for (const p of pairs) {
      for (const r of cluster.replicas) expect(await bearerStatus(r, p.access_token)).toBe(401);
      expect(await bearerStatus(cluster.service, p.access_token, true)).toBe(401);
    }
    for (const p of pairs) {
      for (const r of cluster.replicas) expect((await post(r.url, '/auth/refresh', { refresh_token: p.refresh_token })).status).toBe(401);
    }
  });
});
