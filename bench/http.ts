// 2. A protected route over HTTP, servers as separate processes, autocannon in this
// process: a bare Fastify route (the limit), the example resource service with the
// verifier (cache warm; cache off), GET /auth/me on a Tessera replica, and the stateful
// baseline Tessera replaces (@fastify/session with a central Redis session store).
import os from 'node:os';
import type { Client } from './lib/client.ts';
import { AUDIENCE, ISSUER, postgresMeter, type Infra } from './lib/cluster.ts';
import { load, type LoadResult } from './lib/load.ts';
import { cpuMeter, machineMeter, startServer, type ServerProcess } from './lib/process.ts';
import { fmt, fmtMs, fmtRatio, median, rotate } from './lib/stats.ts';
import type { Row, Section } from './lib/table.ts';

export interface HttpOptions {
  connections?: number;
  seconds?: number;
  rounds?: number;
}

interface Target {
  key: string;
  label: string;
  server: ServerProcess;
  path: string;
  headers: Record<string, string>;
}

interface Run {
  result: LoadResult;
  serverCores: number;
  benchCores: number;
  postgresCores: number;
  redisCores: number;
  machineCores: number;
}

export async function benchHttp(
  infra: Infra,
  replica: ServerProcess,
  access: { token: string; sub: string; sid: string },
  client: Client,
  options: HttpOptions = {},
): Promise<Section> {
  const connections = options.connections ?? 50;
  const seconds = options.seconds ?? 4;
  const rounds = options.rounds ?? 3;
  const profileEnv = { BENCH_SUB: access.sub, BENCH_SID: access.sid };
  const resourceEnv = {
    ISSUER,
    AUDIENCE,
    JWKS_URI: `${replica.url}/.well-known/jwks.json`,
    // Revocation on, as a production service would run: verification still does no I/O.
    REDIS_URL: infra.redisUrl,
    REDIS_KEY_PREFIX: infra.prefix,
  };
  const [bare, cached, uncached, sessions] = await Promise.all([
    startServer({ name: 'bare', script: 'bench/servers/bare.ts', env: profileEnv }),
    startServer({ name: 'resource (cache)', script: 'examples/resource-service/server.mjs', env: { ...resourceEnv, VERIFY_CACHE: 'true' } }),
    startServer({ name: 'resource (no cache)', script: 'examples/resource-service/server.mjs', env: { ...resourceEnv, VERIFY_CACHE: 'false' } }),
    startServer({ name: 'session store', script: 'bench/servers/session-store.ts', env: { REDIS_URL: infra.redisUrl, REDIS_KEY_PREFIX: infra.prefix } }),
  ]);
  try {
    const login = await client.post(`${sessions.url}/login`, { sub: access.sub, sid: access.sid });
    const setCookie = login.headers['set-cookie']?.[0];
    if (login.status !== 200 || !setCookie) throw new Error(`session-store login failed: ${login.status}`);
    const cookie = setCookie.split(';')[0]!;
    const bearer = { authorization: `Bearer ${access.token}` };
    const targets: Target[] = [
      { key: 'bare', label: 'bare Fastify route, no auth (the limit)', server: bare, path: '/api/profile', headers: {} },
      { key: 'cached', label: 'example resource service + verifier, cache warm', server: cached, path: '/api/profile', headers: bearer },
      { key: 'uncached', label: 'example resource service + verifier, cache off (RSA every request)', server: uncached, path: '/api/profile', headers: bearer },
      { key: 'me', label: 'GET /auth/me on a Tessera replica (verify + one SQL read)', server: replica, path: '/auth/me', headers: bearer },
      { key: 'session', label: '@fastify/session + Redis session store (connect-redis)', server: sessions, path: '/api/profile', headers: { cookie } },
    ];
    // Every target must answer 200 to exactly this request before it is loaded.
    for (const t of targets) {
      const res = await client.get(`${t.server.url}${t.path}`, t.headers);
      if (res.status !== 200) throw new Error(`${t.label}: ${res.status} ${res.body}`);
    }

    const runOnce = async (t: Target, duration: number): Promise<Run> => {
      const postgres = await postgresMeter(infra);
      const cpu = cpuMeter({ server: t.server.pid!, bench: process.pid, redis: 'redis-server' });
      const machine = machineMeter();
      const result = await load({ url: `${t.server.url}${t.path}`, headers: t.headers, connections, duration });
      const cores = cpu();
      const machineCores = machine();
      return { result, serverCores: cores.server!, benchCores: cores.bench!, postgresCores: await postgres(), redisCores: cores.redis!, machineCores };
    };
    for (const t of targets) await runOnce(t, 1); // warm-up: JIT, connection pools, the verify cache
    const runs = new Map<string, Run[]>(targets.map((t) => [t.key, []]));
    for (let round = 0; round < rounds; round++) {
      for (const t of rotate(targets, round)) runs.get(t.key)!.push(await runOnce(t, seconds));
    }

    const rps = (key: string) => median(runs.get(key)!.map((r) => r.result.rps));
    const p99 = (key: string) => median(runs.get(key)!.map((r) => r.result.p99));
    // Per round, then the median: the targets of one round ran seconds apart on the same machine.
    const ratio = (key: string, base: string) => median(runs.get(key)!.map((r, i) => r.result.rps / runs.get(base)![i]!.result.rps));
    const failed = (key: string) => runs.get(key)!.reduce((n, r) => n + r.result.failed, 0);
    const figure = (key: string) => `${fmt(rps(key))} req/s, p99 ${fmtMs(p99(key))}`;
    const row = (key: string, base: string, target = '', ok?: boolean): Row => ({
      area: 'http',
      measure: targets.find((t) => t.key === key)!.label + (base === 'bare' ? '' : ` vs ${targets.find((t) => t.key === base)!.label}`),
      figure: figure(key),
      baseline: key === base ? '' : `${fmt(rps(base))} req/s`,
      ratio: fmtRatio(ratio(key, base)),
      target,
      ...(ok === undefined ? {} : { met: ok }),
    });
    const rows: Row[] = [
      row('bare', 'bare'),
      row('cached', 'bare', '≥ 0.8× bare route', ratio('cached', 'bare') >= 0.8),
      { ...row('cached', 'session', '≥ 1.5× session store', ratio('cached', 'session') >= 1.5), measure: 'example resource service, cache warm vs the Redis session-store baseline' },
      row('uncached', 'bare'),
      row('me', 'bare'),
      row('session', 'bare'),
    ];
    const table = targets
      .map((t) => {
        const rs = runs.get(t.key)!;
        const mid = (f: (r: Run) => number) => fmt(median(rs.map(f)));
        return `| ${t.label} | ${rs.map((r) => fmt(r.result.rps)).join(' · ')} | ${fmt(rps(t.key))} | ${fmtMs(median(rs.map((r) => r.result.p50)))} | ${fmtMs(p99(t.key))} | ${mid((r) => r.serverCores)} | ${mid((r) => r.postgresCores)} | ${mid((r) => r.redisCores)} | ${mid((r) => r.benchCores)} | ${mid((r) => r.machineCores)} | ${failed(t.key)} |`;
      })
      .join('\n');
    const details = `### 2. Protected route over HTTP

${connections} connections, ${rounds} interleaved rounds of ${seconds} s per target after a 1 s warm-up each
(the order rotates every round), medians of the rounds; a ratio is the median of the per-round ratios. Each server is its own Node process (one process, one event loop, as in
production), all on 127.0.0.1; autocannon runs in the bench process. Every target answers the same JSON
(\`{sub, sid, client_id, greeting}\`). The resource service runs with revocation through Redis on (its
denylist mirror is checked on every request, cache hit or not), as a production service would; the
session store runs with \`rolling: false\` and \`saveUninitialized: false\`, its cheapest correct setting
(one Redis GET per request, no write). /auth/me verifies the token (no verify cache in the server) and
reads the user row from PostgreSQL.

**This machine has 2 cores and the load generator needs one of them**: the bare route and the cached
resource service are bounded by autocannon as much as by the server (see the "bench (autocannon)" column), so
their ratio understates how much headroom the verifier leaves; the ratios against the session store and
/auth/me are server-bound. "Cores" are CPU time ÷ wall time from /proc; PostgreSQL counts only the backends
of this run's replicas (found by application_name); Redis is the whole redis-server (the resource services'
denylist subscriptions are idle; the session store reads it on every request); machine is every process
on the machine, other work on this shared machine included.

| target | req/s per round | median req/s | p50 | p99 | server cores | PostgreSQL (this run's) | Redis | bench (autocannon) | machine | non-2xx / errors |
|---|---|---|---|---|---|---|---|---|---|---|
${table}
`;
    const cores = (key: string, f: (r: Run) => number) => median(runs.get(key)!.map(f));
    const usPerRequest = (key: string, f: (r: Run) => number) => (cores(key, f) / rps(key)) * 1e6;
    const perRequest = (key: string) =>
      `${fmt(usPerRequest(key, (r) => r.serverCores))} µs server CPU` +
      (key === 'session' ? ` + ${fmt(usPerRequest(key, (r) => r.redisCores))} µs Redis` : '') +
      (key === 'me' ? ` + ${fmt(usPerRequest(key, (r) => r.postgresCores))} µs PostgreSQL` : '') +
      ` + ${fmt(usPerRequest(key, (r) => r.benchCores))} µs load generator`;
    const bounds = `- **Protected route, cache warm: ${fmtRatio(ratio('cached', 'bare'))} the bare route, ${fmtRatio(ratio('cached', 'session'))} the
  session store.** Per request: bare route ${perRequest('bare')}; resource service with a warm verify cache
  ${perRequest('cached')}; session store ${perRequest('session')}; cache off ${perRequest('uncached')};
  /auth/me ${perRequest('me')}. During the bare-route runs the server's one event loop used
  ${fmt(cores('bare', (r) => r.serverCores))} cores and autocannon ${fmt(cores('bare', (r) => r.benchCores))} (the machine as a whole ${fmt(cores('bare', (r) => r.machineCores))} of ${os.cpus().length}): the bound of the two fastest
  targets is one event loop's CPU plus the load generator's, on a machine with no core to spare (other work
  runs here too). A warm-cache verification is a Map look-up (well under a microsecond, section 1), so what
  separates the resource service from the bare route is mostly the plugin's preHandler and noise. The
  session store pays a cookie HMAC, a Redis round trip (syscalls on both sides) and a JSON.parse on every
  request. /auth/me is a different kind of route — it reads the user from PostgreSQL on every call — and
  is bounded by the replica's event loop doing that round trip (its pool of 10 connections for 50 clients).`;
    return { rows, details, bounds };
  } finally {
    await Promise.all([bare, cached, uncached, sessions].map((s) => s.stop()));
  }
}
