// `npm run bench:capacity`: what each operation costs each component, measured in one run on
// this machine — a Tessera replica (compiled, PostgreSQL + a private Redis), its PostgreSQL
// backends (CPU, WAL, rows), the private Redis (commands, CPU, memory) — against one RS256
// signature and one argon2id hash measured in the same run. Writes bench/capacity-results.json,
// its section of bench/RESULTS.md and the table of docs/operate/capacity.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startRedis, type LabRedis } from '../lab/lib/redis.ts';
import { killAllChildServices, killChildServicesOnInterrupt } from '../scripts/lib/child-service.ts';
import { openFollowers } from './capacity/followers.ts';
import { argon2CpuMs, AS_SHIPPED_LIMITS, idleCores, measureOps, redisIdleCores, signCpuMs, type Components, type OpCost } from './capacity/measure.ts';
import { PostgresMeter } from './capacity/meters.ts';
import { writeCapacityDocs, type CapacityResults } from './capacity/report.ts';
import { mirrorHeapBytes } from './footprint.ts';
import { Client } from './lib/client.ts';
import { createInfra, login, POSTGRES_URL, register, startTessera, uniqueEmail, type Infra, type Pair } from './lib/cluster.ts';
import { cpuSecondsOf, ROOT, type ServerProcess } from './lib/process.ts';
import { fmt, median } from './lib/stats.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const ROUNDS = QUICK ? 1 : 3;
const N = QUICK
  ? { logins: 48, refreshes: 600, me: 800, signs: 300, hashes: 8, followers: 20, chains: 16 }
  : { logins: 160, refreshes: 3000, me: 4000, signs: 2000, hashes: 24, followers: 50, chains: 32 };

/** BENCH_LOG_LEVEL: experiments only; the figures committed are at the default, info. */
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
/** BENCH_CPU_PROF=<dir>: the replica writes a V8 CPU profile there when it stops. */
const CPU_PROF = process.env.BENCH_CPU_PROF;

const t0 = performance.now();
const log = (m: string) => process.stderr.write(`[capacity ${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${m}\n`);

async function main(): Promise<void> {
  const loadBefore = os.loadavg().map((l) => l.toFixed(2)).join(' / ');
  log(`load average ${loadBefore}`);
  let redisServer: LabRedis | undefined;
  let infra: Infra | undefined;
  let postgres: PostgresMeter | undefined;
  let redis: Redis | undefined;
  const servers: ServerProcess[] = [];
  const client = new Client(64);
  try {
    redisServer = await startRedis();
    infra = await createInfra({ redisUrl: redisServer.url });
    postgres = await PostgresMeter.open(POSTGRES_URL, infra.schema);
    redis = new Redis(redisServer.url);
    // The replica measured runs as shipped: LOG_LEVEL's default (info), so its audit lines count.
    const replica = await startTessera(infra, 'capacity-replica', CPU_PROF ? [`--cpu-prof-dir=${CPU_PROF}`, '--cpu-prof'] : [], {
      LOG_LEVEL,
      // Refreshes of one chain come milliseconds apart here, minutes apart in use: with no grace
      // window each refresh scrubs its predecessor's sealed successor as it does in use (with
      // 10 s, the scrubs of a whole batch would land later, in the purge, under another batch).
      REFRESH_GRACE_PERIOD: '0',
      // The bench has closed its connections when it stops the replica: exit at once (and write the profile).
      SHUTDOWN_LINGER_MS: '0',
      ...AS_SHIPPED_LIMITS,
    });
    servers.push(replica);
    // A second replica serves the feed's followers and nothing else (its own application_name).
    const feedUrl = new URL(infra.tesseraEnv.DATABASE_URL!);
    feedUrl.searchParams.set('application_name', `${infra.schema}-feed`);
    const feedReplica = await startTessera(infra, 'capacity-feed', [], { DATABASE_URL: feedUrl.toString(), REVOCATION_FEED_MAX_STREAMS_PER_CLIENT: '1000' });
    servers.push(feedReplica);
    await postgres.mapRelations();

    const email = uniqueEmail('capacity');
    await register(client, replica.url, email);
    await login(client, replica.url, email); // warm-up of the login path
    log('idle baselines…');
    const [idle, feedIdle, redisIdle] = await Promise.all([idleCores(replica.pid!), idleCores(feedReplica.pid!), redisIdleCores(redis)]);
    const components: Components = { target: { pid: replica.pid!, applicationName: infra.schema, idleCores: idle }, postgres, redis, redisIdleCores: redisIdle };

    log(`${N.hashes} argon2id hashes, then ${N.logins} logins…`);
    // The hash's CPU moves with the machine's load (19 MiB of memory per hash): measured just
    // before and just after the logins, and averaged.
    const argon2Before = await argon2CpuMs(N.hashes / 2);
    const sessions: Pair[] = [];
    const loginCost = await measureOps(components, N.logins, 4, async () => {
      const res = await client.post(`${replica.url}/auth/login`, { email, password: 'correct horse battery staple' });
      if (res.status !== 200) return false;
      sessions.push(JSON.parse(res.body) as Pair);
      return true;
    });

    const argon2Ms = (argon2Before + (await argon2CpuMs(N.hashes / 2))) / 2;
    const chains = sessions.slice(0, N.chains);
    const accessToken = sessions[0]!.access_token;
    const signs: number[] = [];
    const refreshes: OpCost[] = [];
    const mes: OpCost[] = [];
    // Warm-up: the pg pool, sockets, and V8's optimising compiler, which in a perf profile was
    // still ~10 % of the replica's CPU a thousand refreshes after start (a replica in use runs
    // for days: the steady state is what to measure).
    await refreshBatch(components, client, replica.url, chains, QUICK ? 300 : 3000);
    await measureOps(components, QUICK ? 200 : 2000, 16, async () => (await client.get(`${replica.url}/auth/me`, { authorization: `Bearer ${accessToken}` })).status === 200);
    for (let round = 0; round < ROUNDS; round++) {
      log(`round ${round + 1}/${ROUNDS}: ${N.signs} signatures, ${N.refreshes} refreshes, ${N.me} GET /auth/me…`);
      signs.push(await signCpuMs(N.signs));
      refreshes.push(await refreshBatch(components, client, replica.url, chains, N.refreshes));
      mes.push(
        await measureOps(components, N.me, 16, async () => (await client.get(`${replica.url}/auth/me`, { authorization: `Bearer ${accessToken}` })).status === 200),
      );
    }

    // Logouts: half with no feed follower, half with N.followers on the feed replica. The
    // feed replica's extra CPU, less its idle rate, is the feed's cost of those revocations.
    log(`${sessions.length - N.chains} logouts, half of them followed by ${N.followers} feed followers…`);
    // Not the refresh chains: a logout scrubs its session's sealed successors still within the
    // grace window, dozens on a chain just refreshed back to back, one at most in real use.
    const tokens = sessions.slice(N.chains).map((s) => s.refresh_token);
    const half = Math.floor(tokens.length / 2);
    const logout = (offset: number) => async (i: number) => (await client.post(`${replica.url}/auth/logout`, { refresh_token: tokens[offset + i]! })).status === 204;
    const feedCpu = async (work: () => Promise<OpCost>) => {
      const before = cpuSecondsOf(feedReplica.pid!);
      const start = performance.now();
      const cost = await work();
      await new Promise((r) => setTimeout(r, 300)); // the last events reach the followers
      const seconds = (performance.now() - start) / 1000;
      return { cost, feedMs: (cpuSecondsOf(feedReplica.pid!) - before - feedIdle * seconds) * 1000 };
    };
    const bare = await feedCpu(() => measureOps(components, half, 4, logout(0)));
    const followers = await openFollowers(feedReplica.url, infra.feedClient, N.followers);
    await new Promise((r) => setTimeout(r, 500));
    const feedIdleFollowed = await idleCores(feedReplica.pid!, 1);
    const followed = await feedCpu(() => measureOps(components, tokens.length - half, 4, logout(half)));
    followed.feedMs -= (feedIdleFollowed - feedIdle) * followed.cost.wallSeconds * 1000;
    const delivered = followers.received();
    followers.close();
    const feedPerRevocationPerFollowerMs = (followed.feedMs / followed.cost.count - bare.feedMs / bare.cost.count) / N.followers;

    const storage = { refreshTokenRowBytes: await postgres.rowBytes('refresh_tokens'), sessionRowBytes: await postgres.rowBytes('sessions') };
    log('denylist mirror heap…');
    const mirror = mirrorHeapBytes();

    const pick = (xs: OpCost[], f: (c: OpCost) => number) => ({ median: median(xs.map(f)), min: Math.min(...xs.map(f)), max: Math.max(...xs.map(f)) });
    const results: CapacityResults = {
      date: new Date().toISOString(),
      machine: `${os.cpus()[0]?.model.trim() ?? 'unknown CPU'} × ${os.cpus().length} cores, Node ${process.version}`,
      loadBefore,
      loadAfter: os.loadavg().map((l) => l.toFixed(2)).join(' / '),
      quick: QUICK,
      rounds: ROUNDS,
      baselines: { signMs: median(signs), signMsRounds: signs, argon2Ms, idleReplicaCores: idle, idleRedisCores: redisIdle },
      ops: {
        login: loginCost,
        refresh: medianCost(refreshes),
        me: medianCost(mes),
        logout: mergeCosts(bare.cost, followed.cost),
      },
      spread: {
        refreshReplicaMs: pick(refreshes, (c) => c.replicaMs),
        refreshPostgresMs: pick(refreshes, (c) => c.postgresMs),
        meReplicaMs: pick(mes, (c) => c.replicaMs),
        refreshRatioRounds: refreshes.map((c, i) => signs[i]! / c.replicaMs),
      },
      denylist: { redisBytesPerRevokedSession: mergeCosts(bare.cost, followed.cost).redisMemoryBytes, mirrorBytesPerEntry: mirror.bytes / 100_000, mirrorExact: mirror.exact },
      storage,
      feed: { followers: N.followers, revocations: followed.cost.count, delivered, cpuMsPerRevocationPerFollower: feedPerRevocationPerFollowerMs },
    };
    // A quick run (BENCH_QUICK=1, for trying the script out) writes its JSON to the temporary folder only.
    const out = QUICK ? path.join(os.tmpdir(), 'tessera-capacity-results.quick.json') : path.join(ROOT, 'bench', 'capacity-results.json');
    fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    if (!QUICK) writeCapacityDocs(results);
    const r = results.ops;
    process.stdout.write(
      [
        `one RS256 sign ${fmt(results.baselines.signMs)} ms, one argon2id hash ${fmt(argon2Ms)} ms (CPU)`,
        ...Object.entries(r).map(
          ([op, c]) =>
            `${op.padEnd(8)} replica ${fmt(c.replicaMs)} ms (${fmt(results.baselines.signMs / c.replicaMs)}× sign) · PostgreSQL ${fmt(c.postgresMs)} ms, ${fmt(c.walBytes)} B WAL, ${fmt(c.rowsWritten)} rows · Redis ${fmt(c.redisCommands)} cmds, ${fmt(c.redisMs)} ms`,
        ),
        `refresh ratio per round: ${results.spread.refreshRatioRounds.map((x) => fmt(x)).join(' · ')}`,
        `denylist: Redis ${fmt(results.denylist.redisBytesPerRevokedSession)} B per revoked session, mirror ${fmt(results.denylist.mirrorBytesPerEntry)} B per entry`,
        `feed: ${fmt(feedPerRevocationPerFollowerMs * 1000)} µs per revocation per follower (${delivered} events to ${N.followers} followers)`,
        `total ${fmt((performance.now() - t0) / 1000)} s${QUICK ? ` (quick: only ${out} written)` : '; written: bench/capacity-results.json, bench/RESULTS.md, docs/operate/capacity.md'}`,
      ].join('\n') + '\n',
    );
  } finally {
    client.close();
    redis?.disconnect();
    await Promise.all(servers.map((s) => s.stop()));
    await postgres?.close();
    if (infra) await infra.cleanup();
    await redisServer?.close();
  }
}

/** `count` refreshes over concurrent rotation chains: each presents the token the previous refresh returned. */
function refreshBatch(c: Components, client: Client, base: string, chains: Pair[], count: number): Promise<OpCost> {
  const perChain = Math.ceil(count / chains.length);
  return measureOps(c, chains.length, chains.length, async (i) => {
    let ok = true;
    for (let k = 0; k < perChain; k++) {
      const res = await client.post(`${base}/auth/refresh`, { refresh_token: chains[i]!.refresh_token });
      if (res.status !== 200) ok = false;
      else chains[i] = JSON.parse(res.body) as Pair;
    }
    return ok;
  }).then((cost) => scaleCost(cost, perChain));
}

/** measureOps counted one operation per chain: every figure per chain ÷ refreshes per chain. */
function scaleCost(c: OpCost, perChain: number): OpCost {
  const d = (x: number) => x / perChain;
  return {
    ...c,
    count: c.count * perChain,
    replicaMs: d(c.replicaMs),
    postgresMs: d(c.postgresMs),
    walBytes: d(c.walBytes),
    fpiBytes: d(c.fpiBytes),
    rows: Object.fromEntries(Object.entries(c.rows).map(([t, r]) => [t, { ins: d(r.ins), upd: d(r.upd), del: d(r.del) }])),
    rowsWritten: d(c.rowsWritten),
    redisCommands: d(c.redisCommands),
    redisCalls: Object.fromEntries(Object.entries(c.redisCalls).map(([k, v]) => [k, d(v)])),
    redisMs: d(c.redisMs),
    redisMemoryBytes: d(c.redisMemoryBytes),
  };
}

/** The round whose replica CPU is the median, whole (so its figures belong together). */
function medianCost(xs: OpCost[]): OpCost {
  const sorted = [...xs].sort((a, b) => a.replicaMs - b.replicaMs);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** Two batches of the same operation as one (weighted by count). */
function mergeCosts(a: OpCost, b: OpCost): OpCost {
  const n = a.count + b.count;
  const w = (f: (c: OpCost) => number) => (f(a) * a.count + f(b) * b.count) / n;
  const keys = (f: (c: OpCost) => Record<string, unknown>) => [...new Set([...Object.keys(f(a)), ...Object.keys(f(b))])];
  return {
    count: n,
    wallSeconds: a.wallSeconds + b.wallSeconds,
    replicaMs: w((c) => c.replicaMs),
    postgresMs: w((c) => c.postgresMs),
    walBytes: w((c) => c.walBytes),
    fpiBytes: w((c) => c.fpiBytes),
    rows: Object.fromEntries(
      keys((c) => c.rows).map((t) => [t, { ins: w((c) => c.rows[t]?.ins ?? 0), upd: w((c) => c.rows[t]?.upd ?? 0), del: w((c) => c.rows[t]?.del ?? 0) }]),
    ),
    rowsWritten: w((c) => c.rowsWritten),
    redisCommands: w((c) => c.redisCommands),
    redisCalls: Object.fromEntries(keys((c) => c.redisCalls).map((k) => [k, w((c) => c.redisCalls[k] ?? 0)])),
    redisMs: w((c) => c.redisMs),
    redisMemoryBytes: w((c) => c.redisMemoryBytes),
    failed: a.failed + b.failed,
  };
}

killChildServicesOnInterrupt();
const deadline = setTimeout(() => {
  process.stderr.write('bench:capacity took over 5 minutes: stopping\n');
  killAllChildServices();
  process.exit(1);
}, 300_000);
deadline.unref();

main().catch((err: unknown) => {
  killAllChildServices();
  process.stderr.write(`bench:capacity failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
