// A rolling restart under load, through the real balancer: nginx in front of three Tessera
// replicas (scripts/cluster.ts, the `npm run cluster` topology) on PostgreSQL and Redis.
// While a handful of clients keep calling /auth/me and rotating their refresh tokens, each
// replica in turn gets SIGTERM, must exit 0, and is started again on the same port.
// Nothing may be lost: every answer is the expected 2xx (a 502/503 or a connection error
// is a lost request) and every user is still logged in at the end.
import { expect, it } from 'vitest';
import { nginx, skipUnless } from '../../../../test/lib/requirements.ts';
import { PASSWORD, uniqueEmail, type Tokens } from '../helpers/flows.ts';
import { sleep } from '../revocation/redis-kit.ts';
import { useBalancedCluster } from './cluster-kit.ts';

const USERS = 6;
/** Pause between two requests of one client: steady, bounded load rather than a flood. */
const THINK_MS = 10;
/** Every n-th request of a client rotates its refresh token. */
const REFRESH_EVERY = 4;
const REQUEST_TIMEOUT_MS = 10_000;


interface Failure {
  user: number;
  what: string;
  status: number | string;
  body: string;
}

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { status: res.status, body: await res.text() };
}

const jsonPost = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

skipUnless(nginx)('rolling restart behind nginx', () => {
  // The load comes from one IP; this test is about restarts, not about abuse limits.
  const { cluster, testDb } = useBalancedCluster('rolling', { env: { RATE_LIMIT_ENABLED: 'false', SHUTDOWN_TIMEOUT_MS: '15000' } });

  it('loses no request and logs out no user while every replica is restarted in turn', async () => {
    const lb = cluster().url;
    const users: Tokens[] = [];
    for (let i = 0; i < USERS; i++) {
      const email = uniqueEmail('rolling');
      const reg = await call(`${lb}/auth/register`, jsonPost({ email, password: PASSWORD }));
      expect(reg.status, reg.body).toBe(201);
      const login = await call(`${lb}/auth/login`, jsonPost({ email, password: PASSWORD }));
      expect(login.status, login.body).toBe(200);
      users.push(JSON.parse(login.body) as Tokens);
    }

    const failures: Failure[] = [];
    const counts = { me: 0, refresh: 0 };
    let running = true;
    const client = async (i: number) => {
      for (let n = 1; running; n++) {
        const tokens = users[i]!;
        const refreshing = n % REFRESH_EVERY === 0;
        const what = refreshing ? 'POST /auth/refresh' : 'GET /auth/me';
        try {
          const res = refreshing
            ? await call(`${lb}/auth/refresh`, jsonPost({ refresh_token: tokens.refresh_token }))
            : await call(`${lb}/auth/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
          if (res.status !== 200) failures.push({ user: i, what, status: res.status, body: res.body.slice(0, 300) });
          else if (refreshing) users[i] = JSON.parse(res.body) as Tokens;
          counts[refreshing ? 'refresh' : 'me']++;
        } catch (err) {
          failures.push({ user: i, what, status: 'network error', body: String((err as Error).cause ?? err) });
        }
        await sleep(THINK_MS);
      }
    };
    const load = Promise.all(users.map((_, i) => client(i)));

    const exitCodes: (number | null)[] = [];
    const restarted: { name: string; requestsDuring: number }[] = [];
    try {
      await sleep(2_000);
      for (const replica of cluster().replicas) {
        const before = counts.me + counts.refresh;
        exitCodes.push(await replica.stop('SIGTERM'));
        await replica.start();
        restarted.push({ name: replica.name, requestsDuring: counts.me + counts.refresh - before });
        await sleep(1_000);
      }
      await sleep(2_000);
    } finally {
      running = false;
      await load;
    }

    // nginx logs every request it had to move to another replica. A refused connection is
    // expected (the replica is down or restarting; the request never reached it). A reset or
    // an early close would be a request cut by a stopping replica: nginx replays those only
    // when idempotent or whitelisted, so they must not happen at all.
    const nginxLog = cluster().nginxErrorLog().split('\n');
    const refused = nginxLog.filter((l) => l.includes('Connection refused'));
    const cut = nginxLog.filter((l) => /reset by peer|prematurely closed|timed out/.test(l) && !l.includes('while connecting to upstream'));
    console.info(JSON.stringify({ requests: counts, restarted, nginx: { refused: refused.length, cut: cut.length } }));

    expect(exitCodes).toEqual([0, 0, 0]);
    expect(failures).toEqual([]);
    expect(cut, 'requests cut by a stopping replica').toEqual([]);
    // The load really ran across every restart (bounded from below, not a duration).
    expect(counts.refresh).toBeGreaterThan(USERS * 3);
    for (const r of restarted) expect(r.requestsDuring, r.name).toBeGreaterThan(0);

    // Nobody was logged out: every refresh chain still rotates, every new token works.
    for (const [i, tokens] of users.entries()) {
      const res = await call(`${lb}/auth/refresh`, jsonPost({ refresh_token: tokens.refresh_token }));
      expect(res.status, `user ${i}: ${res.body}`).toBe(200);
      const fresh = JSON.parse(res.body) as Tokens;
      const me = await call(`${lb}/auth/me`, { headers: { authorization: `Bearer ${fresh.access_token}` } });
      expect(me.status, `user ${i}: ${me.body}`).toBe(200);
    }
    const reused = await testDb().db.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM sessions WHERE revoked_reason = 'refresh_token_reused'",
    );
    expect(reused[0]?.n).toBe('0');
  }, 180_000);
});
