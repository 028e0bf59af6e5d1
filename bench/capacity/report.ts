// bench:capacity's outputs: its section of bench/RESULTS.md (between markers, so `npm run
// bench` keeps it) and the table of docs/operate/capacity.md, both from the measured JSON.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../lib/process.ts';
import { fmt, fmtRatio } from '../lib/stats.ts';
import type { Row } from '../lib/table.ts';
import type { OpCost } from './measure.ts';
import { capacityRow, DEFAULT_ASSUMPTIONS, POPULATIONS, type Measured } from './model.ts';

export interface CapacityResults {
  date: string;
  machine: string;
  loadBefore: string;
  loadAfter: string;
  quick: boolean;
  rounds: number;
  baselines: { signMs: number; signMsRounds: number[]; argon2Ms: number; idleReplicaCores: number; idleRedisCores: number };
  ops: { login: OpCost; refresh: OpCost; me: OpCost; logout: OpCost };
  spread: {
    refreshReplicaMs: { median: number; min: number; max: number };
    refreshPostgresMs: { median: number; min: number; max: number };
    meReplicaMs: { median: number; min: number; max: number };
    refreshRatioRounds: number[];
  };
  denylist: { redisBytesPerRevokedSession: number; mirrorBytesPerEntry: number; mirrorExact: boolean };
  feed: { followers: number; revocations: number; delivered: number; cpuMsPerRevocationPerFollower: number };
  storage: { refreshTokenRowBytes: number; sessionRowBytes: number };
}

/** Replica CPU per refresh against one RS256 signature: sign CPU ÷ refresh CPU (refreshes per replica core-second ÷ signatures per core-second). */
export const REFRESH_TARGET = 0.87;
/** Replica CPU per login against one argon2id hash, defined the same way. */
export const LOGIN_TARGET = 0.85;

export const MARKERS = { begin: '<!-- bench:capacity begin -->', end: '<!-- bench:capacity end -->' } as const;

/** Replaces the text between the markers (inclusive) in `text`, or appends it. */
export function replaceBlock(text: string, block: string): string {
  const start = text.indexOf(MARKERS.begin);
  const end = text.indexOf(MARKERS.end);
  const wrapped = `${MARKERS.begin}\n${block.trim()}\n${MARKERS.end}`;
  if (start === -1 || end === -1 || end < start) return `${text.trimEnd()}\n\n${wrapped}\n`;
  return text.slice(0, start) + wrapped + text.slice(end + MARKERS.end.length);
}

export function measuredFrom(r: CapacityResults): Measured {
  return {
    ops: r.ops,
    redisBytesPerRevokedSession: r.denylist.redisBytesPerRevokedSession,
    mirrorBytesPerEntry: r.denylist.mirrorBytesPerEntry,
    feedCpuMsPerRevocationPerFollower: r.feed.cpuMsPerRevocationPerFollower,
    refreshTokenRowBytes: r.storage.refreshTokenRowBytes,
    sessionRowBytes: r.storage.sessionRowBytes,
  };
}

const calls = (c: OpCost) =>
  Object.entries(c.redisCalls)
    .filter(([, n]) => n >= 0.05)
    .map(([k, n]) => `${k} ${fmt(n)}`)
    .join(', ') || '—';
const rows = (c: OpCost) =>
  Object.entries(c.rows)
    .map(([t, r]) => `${t} ${[r.ins >= 0.05 ? `+${fmt(r.ins)}` : '', r.upd >= 0.05 ? `~${fmt(r.upd)}` : '', r.del >= 0.05 ? `−${fmt(r.del)}` : ''].filter(Boolean).join(' ')}`)
    .filter((s) => /[+~−]/.test(s))
    .join(', ');

export function resultsSection(r: CapacityResults): string {
  const { signMs, argon2Ms } = r.baselines;
  const o = r.ops;
  const refreshRatio = signMs / o.refresh.replicaMs;
  const loginRatio = argon2Ms / o.login.replicaMs;
  const line = (name: string, c: OpCost, base: number, baseName: string) =>
    `| ${name} | ${c.count} | ${fmt(c.replicaMs)} ms | ${fmtRatio(base / c.replicaMs)} ${baseName} | ${fmt(c.postgresMs)} ms | ${fmt(c.walBytes)} B (FPI ${fmt(c.fpiBytes)}) | ${fmt(c.rowsWritten)}: ${rows(c) || '—'} | ${fmt(c.redisCommands)}: ${calls(c)} | ${c.redisMs * 1000 < 1 ? '< 1' : fmt(c.redisMs * 1000)} µs |`;
  return `## Capacity: what each operation costs each component (bench/capacity.ts)

\`npm run bench:capacity\` on ${r.date.slice(0, 10)} (${r.machine}; load average ${r.loadBefore} before, ${r.loadAfter} after; ${r.rounds} rounds of refresh and /auth/me, medians; the JSON is [capacity-results.json](capacity-results.json)).
One compiled replica (\`packages/server/dist/main.js\`, \`LOG_LEVEL\` at its default \`info\`, so its audit lines are paid for) on the
shared PostgreSQL (a schema of its own) and a private \`redis-server\` the bench starts, so every Redis command and CPU second is the bench's.
Replica CPU is user+sys from /proc/<pid>/stat over the batch less its idle rate (${fmt(r.baselines.idleReplicaCores * 1000)} ms/s); PostgreSQL CPU is the
replica's backends (by \`application_name\`); WAL is the records of \`pg_walinspect\` that touch the bench schema's relations, with their
commit records (the shared server's other writes left out); rows are heap inserts (+), updates (~) and deletes (−) in those records;
Redis is INFO commandstats and used_cpu_sys+user less its idle rate (a negligible figure can come out slightly negative: shown as < 1 µs). Baselines in this process: one RS256 signature ${fmt(signMs)} ms of CPU
(\`crypto.sign\` callback form, 8 in flight, as the server signs; per round ${r.baselines.signMsRounds.map((x) => fmt(x)).join(' · ')}), one argon2id hash
(m=19456, t=2, p=1) ${fmt(argon2Ms)} ms.

| operation | n | replica CPU | baseline ÷ replica | PostgreSQL CPU | WAL | rows written | Redis commands | Redis CPU |
|---|---|---|---|---|---|---|---|---|
${line('POST /auth/login', o.login, argon2Ms, 'argon2id')}
${line('POST /auth/refresh', o.refresh, signMs, 'RS256 sign')}
${line('POST /auth/logout', o.logout, signMs, 'RS256 sign')}
${line('GET /auth/me (verified request)', o.me, signMs, 'RS256 sign')}

| target | figure | baseline (same run) | ratio | target | met? |
|---|---|---|---|---|---|
| replica CPU per refresh | ${fmt(o.refresh.replicaMs)} ms (rounds ${fmt(r.spread.refreshReplicaMs.min)}–${fmt(r.spread.refreshReplicaMs.max)}) | one RS256 sign ${fmt(signMs)} ms | ${fmtRatio(refreshRatio)} (rounds ${r.spread.refreshRatioRounds.map((x) => fmtRatio(x)).join(' · ')}) | ≥ ${REFRESH_TARGET}× | ${refreshRatio >= REFRESH_TARGET ? 'met' : 'MISSED'} |
| PostgreSQL per refresh (own row, no target) | ${fmt(o.refresh.postgresMs)} ms CPU (rounds ${fmt(r.spread.refreshPostgresMs.min)}–${fmt(r.spread.refreshPostgresMs.max)}), ${fmt(o.refresh.walBytes)} B WAL, ${fmt(o.refresh.rowsWritten)} rows | one RS256 sign ${fmt(signMs)} ms | ${fmtRatio(signMs / o.refresh.postgresMs)} | | |
| replica CPU per login | ${fmt(o.login.replicaMs)} ms | one argon2id hash ${fmt(argon2Ms)} ms | ${fmtRatio(loginRatio)} | ≥ ${LOGIN_TARGET}× | ${loginRatio >= LOGIN_TARGET ? 'met' : 'MISSED'} |
| PostgreSQL per login (own row, no target) | ${fmt(o.login.postgresMs)} ms CPU, ${fmt(o.login.walBytes)} B WAL, ${fmt(o.login.rowsWritten)} rows | one argon2id hash ${fmt(argon2Ms)} ms | | | |

A ratio is baseline CPU ÷ the operation's CPU: how many operations one core of the component serves per signature (or hash) it
could make. Denylist memory: Redis used_memory grew ${fmt(r.denylist.redisBytesPerRevokedSession)} B per revoked session over the logouts
(the \`deny:session\` key with its TTL and the feed stream's entry); the mirror (\`DenylistMirror\`, bench/footprint.ts's
\`mirrorHeapBytes\`) holds ${fmt(r.denylist.mirrorBytesPerEntry)} B per entry in every replica and every verifying service. Feed: a second replica serving
${r.feed.followers} SSE followers of \`/revocations/stream\` and nothing else spent ${fmt(r.feed.cpuMsPerRevocationPerFollower * 1000)} µs of CPU per revocation per follower
(its CPU during ${r.feed.revocations} followed logouts, less the same logouts unfollowed and its idle rate; ${r.feed.delivered} events delivered).
Storage: ${fmt(r.storage.refreshTokenRowBytes)} B per \`refresh_tokens\` row and ${fmt(r.storage.sessionRowBytes)} B per \`sessions\` row on disk (heap and indexes ÷ rows at the end of the run).
[docs/operate/capacity.md](../docs/operate/capacity.md) turns these rows into replicas, PostgreSQL and Redis for 1 M, 10 M and 100 M users.

${refreshStory(r)}`;
}

interface SavedProfile {
  date: string;
  loadAverage: string;
  refreshes: number;
  cpuMsPerRefresh: number;
  threadsUsPerRefresh: Record<string, number>;
  categories: { name: string; share: number }[];
}

function readProfile(): SavedProfile | undefined {
  const file = path.join(ROOT, 'bench', 'capacity-profile.json');
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as SavedProfile) : undefined;
}

/** The refresh target's history, the changes that closed part of the gap, and the last profile. */
function refreshStory(r: CapacityResults): string {
  const signMs = r.baselines.signMs;
  const ratio = signMs / r.ops.refresh.replicaMs;
  const profile = readProfile();
  const profileText = profile
    ? `Where a refresh's CPU goes (\`BENCH_PERF=/tmp/refresh.perf node --import tsx bench/capacity/profile-refresh.ts 5000\`, ${profile.date.slice(0, 10)},
load average ${profile.loadAverage}): \`perf record -g\` of the replica (\`--perf-basic-prof\`) during ${profile.refreshes} refreshes after a warm-up of 3,000,
every CPU sample of every thread charged to its nearest JavaScript caller, so the kernel time of a socket write counts for whoever wrote.
The replica used ${fmt(profile.cpuMsPerRefresh)} ms per refresh (perf running), ${Object.entries(profile.threadsUsPerRefresh)
        .map(([n, us]) => `${n === 'main' ? 'the event loop' : n === 'node' ? 'the thread pool and V8 helpers' : n} ${fmt(us)} µs`)
        .join(', ')}. (V8's own \`--cpu-prof\` is misleading here: it samples wall time, and on two busy cores the event loop is descheduled
right after it wakes a pool thread — charged to \`signOneShot\` — or the peer of a socket write.)

| nearest caller | share | µs per refresh |
|---|---|---|
${profile.categories.map((c) => `| ${c.name} | ${(c.share * 100).toFixed(1)} % | ${fmt(c.share * profile.cpuMsPerRefresh * 1000)} |`).join('\n')}
`
    : '(no profile saved: run bench/capacity/profile-refresh.ts with BENCH_PERF)';
  return `### The refresh target: its history, the gap, and where a refresh's CPU goes

- **Until 2026-12** the refresh target was a whole-machine rate: refreshes per second of one replica on this 2-core machine ÷ raw RS256
  signatures per second on the same two cores (≥ 0.6×). The three committed full runs measured 0.137×, 0.169× and 0.156×, "missed"
  each time. PostgreSQL, the load generator and the replica share those two cores, so that figure said more about PostgreSQL's work per
  refresh than about Tessera. It is replaced by two rows: **the replica's CPU per refresh against one RS256 signature** (ratio: the
  signature's CPU ÷ the replica's CPU per refresh, i.e. refreshes per replica core-second ÷ signatures per core-second; goal ≥ ${REFRESH_TARGET}×),
  and **PostgreSQL's cost per refresh on its own row** (no target: it is the database's work, sized in docs/operate/capacity.md). The
  login target moved the same way: the replica's CPU per login against one argon2id hash (≥ ${LOGIN_TARGET}×), PostgreSQL's share on its own row.
  The issue that set ${REFRESH_TARGET}× quoted 0.75× as measured; no committed run has that ratio by this definition (the nearest figure is
  "Tessera 0.756 ms" of CPU per refresh on 2026-11-30, against 0.295 ms per signature: 0.39×, with \`LOG_LEVEL=warn\` and the rate limits off).
  This section measures the replica as shipped: \`LOG_LEVEL=info\` (three log lines per refresh: two request lines and the audit line) and
  the limits on (a Redis read per refresh).
- **Closed so far** (2026-12-07, interleaved A/B on the same script, 4,000 refreshes after a 3,000 warm-up, load average 8–9 from other
  work): replica CPU per refresh 1.09 · 1.31 · 1.31 ms before, 0.977 · 0.98 · 1.04 ms after, from two changes that keep behaviour as it was:
  the per-address refresh-failure check reads one Redis key (a GET, and the window's PTTL only when the address has failures) instead of
  MULTI/GET/PTTL/EXEC on every refresh (≈ 0.1 ms alone); and the security headers come from helmet's middleware built once, where
  @fastify/helmet rebuilt it from its options, CSP parsing included, on every request (the headers compared identical on 13 kinds of answers).
- **Now ${fmtRatio(ratio)} (${ratio >= REFRESH_TARGET ? 'met' : 'missed'}).** ${REFRESH_TARGET}× would leave everything but the signature ${fmt(signMs * (1 / REFRESH_TARGET - 1) * 1000)} µs of CPU:
  less than this machine's kernel alone spends on one HTTP exchange, one PostgreSQL round trip and one Redis round trip (the "native"
  and "Node HTTP" rows below). A refresh is an HTTP request, one SQL statement, one Redis read, three log lines and a signature; the rest
  of its CPU is spread thinly over them, with no single frame above a few per cent. Reaching ${REFRESH_TARGET}× would take removing one of those
  parts (the audit line, the failure counter, the database round trip), which changes behaviour; the target stays, marked missed.
- **Spread**: three full runs on 2026-12-07 (load average 6–10 from other work) gave 0.345×, 0.328× and 0.305× (replica 0.943, 0.906 and
  1.03 ms per refresh against 0.325, 0.298 and 0.315 ms per signature; PostgreSQL 1.10, 1.26 and 1.28 ms); the JSON committed is the median
  run. The feed's cost per revocation per follower, a difference of two small figures, moved most: 45, 50.5 and 90.5 µs.
- **Login: ${fmtRatio(r.baselines.argon2Ms / r.ops.login.replicaMs)}.** A login's replica CPU is one argon2id verification plus a signature, SQL and HTTP, so by
  construction it sits just under 1×; a figure at or above 1× says the in-process hash baseline was inflated, not that the login is free.
  On this loaded machine the hash's CPU moved between 35.7 and 41.9 ms from run to run (23.6 ms at load average 0.6 on 2026-11-30):
  19 MiB of memory per hash makes it sensitive to what else runs. Read this row as "about 0.85–1×".

${profileText}`;
}

/** The capacity targets as rows of the summary table of bench/RESULTS.md (run.ts adds them from the last capacity run). */
export function capacityRows(r: CapacityResults): Row[] {
  const { signMs, argon2Ms } = r.baselines;
  const o = r.ops;
  const when = `bench:capacity ${r.date.slice(0, 10)}`;
  return [
    {
      area: 'capacity',
      measure: `replica CPU per refresh vs one RS256 sign (${when})`,
      figure: `${fmt(o.refresh.replicaMs)} ms`,
      baseline: `${fmt(signMs)} ms`,
      ratio: fmtRatio(signMs / o.refresh.replicaMs),
      target: `≥ ${REFRESH_TARGET}×`,
      met: signMs / o.refresh.replicaMs >= REFRESH_TARGET,
    },
    {
      area: 'capacity',
      measure: `PostgreSQL per refresh: backend CPU, WAL, rows (${when})`,
      figure: `${fmt(o.refresh.postgresMs)} ms, ${fmt(o.refresh.walBytes)} B, ${fmt(o.refresh.rowsWritten)} rows`,
      baseline: `${fmt(signMs)} ms`,
      ratio: fmtRatio(signMs / o.refresh.postgresMs),
      target: '',
    },
    {
      area: 'capacity',
      measure: `replica CPU per login vs one argon2id hash (${when})`,
      figure: `${fmt(o.login.replicaMs)} ms`,
      baseline: `${fmt(argon2Ms)} ms`,
      ratio: fmtRatio(argon2Ms / o.login.replicaMs),
      target: `≥ ${LOGIN_TARGET}×`,
      met: argon2Ms / o.login.replicaMs >= LOGIN_TARGET,
    },
    {
      area: 'capacity',
      measure: `PostgreSQL per login: backend CPU, WAL, rows (${when})`,
      figure: `${fmt(o.login.postgresMs)} ms, ${fmt(o.login.walBytes)} B, ${fmt(o.login.rowsWritten)} rows`,
      baseline: '',
      ratio: '',
      target: '',
    },
  ];
}

/** The last capacity run's JSON, if there is one. */
export function readCapacityResults(): CapacityResults | undefined {
  const file = path.join(ROOT, 'bench', 'capacity-results.json');
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as CapacityResults) : undefined;
}

const int = (x: number) => fmt(x < 10 ? Math.round(x * 10) / 10 : Math.round(x));

export function capacityTable(r: CapacityResults): string {
  const m = measuredFrom(r);
  const table = POPULATIONS.map((n) => capacityRow(n, m));
  const head = `| | ${table.map((t) => `${t.monthlyUsers / 1e6} M users`).join(' | ')} |\n|---|${table.map(() => '---').join('|')}|`;
  const line = (label: string, f: (t: (typeof table)[number]) => string) => `| ${label} | ${table.map(f).join(' | ')} |`;
  const ops = (t: (typeof table)[number]) => t.peakOpsPerSecond;
  return [
    `Computed by \`npm run bench:capacity\` from bench/capacity-results.json (${r.date.slice(0, 10)}) with the assumptions above (\`DEFAULT_ASSUMPTIONS\` in bench/capacity/model.ts).`,
    '',
    head,
    line('peak refreshes/s', (t) => int(ops(t).refresh)),
    line('peak logins/s · logouts/s', (t) => `${int(ops(t).login)} · ${int(ops(t).logout)}`),
    line('peak GET /auth/me/s', (t) => int(ops(t).me)),
    line('**replicas**: cores at peak (2-core replicas)', (t) => `${int(t.replicaCores)} (${t.replicas})`),
    line('**PostgreSQL**: backend cores at peak', (t) => int(t.postgresCores)),
    line('PostgreSQL rows written/s at peak · WAL MiB/s', (t) => `${int(t.postgresRowWritesPerSecond)} · ${int(t.walMiBPerSecond)}`),
    line('PostgreSQL WAL GiB/day', (t) => int(t.walGiBPerDay)),
    line('session tables: growth GiB/day · kept (steady state) GiB', (t) => `${int(t.storageGrowthGiBPerDay)} · ${int(t.storageGiB)}`),
    line('**Redis**: commands/s at peak', (t) => int(t.redisOpsPerSecond)),
    line('Redis denylist memory (MiB) · mirror per process (MiB)', (t) => `${fmt(t.redisMemoryMiB)} · ${fmt(t.mirrorMiBPerProcess)}`),
    line(`feed: replica cores for ${DEFAULT_ASSUMPTIONS.feedFollowers} followers`, (t) => fmt(t.feedCores)),
  ].join('\n');
}

export function writeCapacityDocs(r: CapacityResults): void {
  const results = path.join(ROOT, 'bench', 'RESULTS.md');
  fs.writeFileSync(results, replaceBlock(fs.readFileSync(results, 'utf8'), resultsSection(r)));
  const doc = path.join(ROOT, 'docs', 'operate', 'capacity.md');
  if (fs.existsSync(doc)) fs.writeFileSync(doc, replaceBlock(fs.readFileSync(doc, 'utf8'), capacityTable(r)));
}
