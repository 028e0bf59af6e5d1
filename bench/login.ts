// 4. Login: the raw argon2id rate of this machine with the server's parameters and thread
// pool (the limit: one hash is the cost of a login) against POST /auth/login, and the
// latency of GET /auth/me on the same replica while logins run at capacity, against idle.
import fs from 'node:fs';
import os from 'node:os';
import argon2 from 'argon2';
import { OWASP_ARGON2 } from '../packages/server/src/users/password.ts';
import { PASSWORD, THREADPOOL } from './lib/cluster.ts';
import { load, type LoadResult } from './lib/load.ts';
import { cpuMeter, machineMeter, type ServerProcess } from './lib/process.ts';
import { fmt, fmtMs, fmtRatio, median, rotate } from './lib/stats.ts';
import type { Row, Section } from './lib/table.ts';

export interface LoginOptions {
  seconds?: number;
  rounds?: number;
  /** Fixed request rate of the /auth/me probe, per second. */
  probeRate?: number;
}

interface Raw {
  rate: number;
  /** Cores the bench process used: the hashing threads. */
  cores: number;
  machineCores: number;
}

async function rawArgon2(seconds: number, inFlight: number): Promise<Raw> {
  const machine = machineMeter();
  const cpu = cpuMeter({ bench: process.pid });
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const worker = async () => {
    while (performance.now() < end) {
      await argon2.hash(PASSWORD, { type: argon2.argon2id, ...OWASP_ARGON2 });
      done++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { rate: done / ((performance.now() - start) / 1000), cores: cpu().bench!, machineCores: machine() };
}

/**
 * Sets the nice value of every thread of `pid` except its main thread (the event loop): the
 * libuv thread pool that runs argon2 and RSA signing, and V8's helper threads. Returns how many.
 */
function reniceHelpers(pid: number, nice: number): number {
  let count = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`).map(Number)) {
    if (tid === pid) continue;
    os.setPriority(tid, nice);
    count++;
  }
  return count;
}

interface Storm {
  login: LoadResult;
  probe?: LoadResult;
  serverCores: number;
  machineCores: number;
}

export async function benchLogin(replica: ServerProcess, email: string, accessToken: string, options: LoginOptions = {}): Promise<Section> {
  const seconds = options.seconds ?? 4;
  const rounds = options.rounds ?? 3;
  const probeRate = options.probeRate ?? 200;
  const loginConnections = THREADPOOL * 2;
  const probe = () =>
    load({ url: `${replica.url}/auth/me`, headers: { authorization: `Bearer ${accessToken}` }, connections: 4, overallRate: probeRate, duration: seconds });
  /** Logins at capacity for `seconds`; with `withProbe`, the /auth/me probe at the same time. */
  const storm = async (withProbe: boolean): Promise<Storm> => {
    const cpu = cpuMeter({ server: replica.pid! });
    const machine = machineMeter();
    const [login, me] = await Promise.all([
      load({
        url: `${replica.url}/auth/login`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: PASSWORD }),
        connections: loginConnections,
        duration: seconds,
        timeout: 30,
      }),
      withProbe ? probe() : undefined,
    ]);
    return { login, ...(me ? { probe: me } : {}), serverCores: cpu().server!, machineCores: machine() };
  };

  await rawArgon2(1, THREADPOOL); // warm-up
  await storm(true);
  const raw: Raw[] = [];
  const logins: Storm[] = [];
  const storms: Storm[] = [];
  const idle: LoadResult[] = [];
  // The fix proposed for src/, tried from the outside on the same replica and interleaved with
  // the rest: its non-event-loop threads at nice +10, so the event loop wins the CPU whenever it
  // has work. Only if this process may raise them back to 0 afterwards (CAP_SYS_NICE).
  const niced: Storm[] = [];
  const nicedIdle: LoadResult[] = [];
  let reniced = 0;
  let canRenice = true;
  try {
    reniceHelpers(replica.pid!, 1);
    reniceHelpers(replica.pid!, 0);
  } catch {
    canRenice = false;
  }
  const kinds = canRenice ? (['raw', 'login', 'storm', 'idle', 'niced'] as const) : (['raw', 'login', 'storm', 'idle'] as const);
  for (let round = 0; round < rounds; round++) {
    for (const which of rotate<(typeof kinds)[number]>(kinds, round)) {
      if (which === 'raw') raw.push(await rawArgon2(seconds, THREADPOOL));
      else if (which === 'login') logins.push(await storm(false));
      else if (which === 'storm') storms.push(await storm(true));
      else if (which === 'idle') idle.push(await probe());
      else {
        reniced = reniceHelpers(replica.pid!, 10);
        try {
          niced.push(await storm(true));
          nicedIdle.push(await probe());
        } finally {
          reniceHelpers(replica.pid!, 0);
        }
      }
    }
  }

  const rawRate = median(raw.map((r) => r.rate));
  const loginRate = median(logins.map((s) => s.login.rps));
  // Raw and login runs of one round are a few seconds apart: their ratio is steadier than either rate.
  const loginRatio = median(logins.map((s, i) => s.login.rps / raw[i]!.rate));
  const stormP99 = median(storms.map((s) => s.probe!.p99));
  const stormLoginRate = median(storms.map((s) => s.login.rps));
  const idleP99 = median(idle.map((r) => r.p99));
  const nicedStormP99 = median(niced.map((s) => s.probe!.p99));
  const nicedIdleP99 = median(nicedIdle.map((r) => r.p99));
  const nicedLoginRate = median(niced.map((s) => s.login.rps));
  const { memoryCost, timeCost, parallelism } = OWASP_ARGON2;
  const loginOk = loginRatio >= 0.85;
  const stormOk = stormP99 / idleP99 <= 3;
  const rows: Row[] = [
    { area: 'login', measure: `raw argon2id hashes, m=${memoryCost} t=${timeCost} p=${parallelism}, ${THREADPOOL} in flight (the limit)`, figure: `${fmt(rawRate)}/s`, baseline: '', ratio: fmtRatio(1), target: '' },
    {
      area: 'login',
      // Until 2026-12 this whole-machine rate carried the login target (≥ 0.85×); the target is
      // now the replica's CPU per login against one hash (the "capacity" rows, bench:capacity).
      measure: `POST /auth/login, ${loginConnections} connections, whole-machine rate (former target ≥ 0.85×, retired: see the capacity rows)`,
      figure: `${fmt(loginRate)}/s, p99 ${fmtMs(median(logins.map((s) => s.login.p99)))}`,
      baseline: `${fmt(rawRate)}/s`,
      ratio: fmtRatio(loginRatio),
      target: '',
    },
    {
      area: 'login',
      measure: `GET /auth/me p99 at ${probeRate} req/s during the login storm vs idle`,
      figure: fmtMs(stormP99),
      baseline: `idle p99 ${fmtMs(idleP99)}`,
      ratio: fmtRatio(stormP99 / idleP99),
      target: '≤ 3× idle p99',
      met: stormOk,
    },
  ];
  if (canRenice) {
    rows.push({
      area: 'login',
      measure: "experiment: same, with the replica's non-event-loop threads at nice +10 (not the shipped server)",
      figure: `${fmtMs(nicedStormP99)}, ${fmt(nicedLoginRate)} logins/s`,
      baseline: `idle p99 ${fmtMs(nicedIdleP99)}`,
      ratio: fmtRatio(nicedStormP99 / nicedIdleP99),
      target: '',
    });
  }
  const cores = os.cpus().length;
  const rate = (xs: Storm[]) => xs.map((s) => fmt(s.login.rps)).join(' · ');
  const p99s = (xs: LoadResult[]) => `${xs.map((r) => fmtMs(r.p99)).join(' · ')} (p99)`;
  const stormRow = (label: string, xs: Storm[]) =>
    `| ${label} | ${rate(xs)} | ${fmt(median(xs.map((s) => s.login.rps)))}/s | ${fmtMs(median(xs.map((s) => s.login.p50)))} | ${fmtMs(median(xs.map((s) => s.login.p99)))} | ${fmt(median(xs.map((s) => s.serverCores)))} | ${fmt(median(xs.map((s) => s.machineCores)))} |`;
  const probeRow = (label: string, xs: LoadResult[]) => `| ${label} | ${p99s(xs)} | | ${fmtMs(median(xs.map((r) => r.p50)))} | ${fmtMs(median(xs.map((r) => r.p99)))} | | |`;
  const nicedRows = canRenice
    ? [
        stormRow('POST /auth/login during the probe, threads at nice +10', niced),
        probeRow('/auth/me during the storm, threads at nice +10', niced.map((s) => s.probe!)),
        probeRow('/auth/me idle, threads at nice +10', nicedIdle),
      ].join('\n')
    : '';
  const failed = [...logins, ...storms, ...niced].reduce((n, s) => n + s.login.failed + (s.probe?.failed ?? 0), 0) + [...idle, ...nicedIdle].reduce((n, r) => n + r.failed, 0);
  const details = `### 4. Login

Raw: \`argon2.hash\` (argon2id, m=${memoryCost} KiB, t=${timeCost}, p=${parallelism}: the server's configured parameters) with
${THREADPOOL} hashes in flight on the bench's libuv thread pool of ${THREADPOOL} threads — the concurrency the
server's pool allows — on ${cores} cores. Login: autocannon, ${loginConnections} connections, POST /auth/login of one user
(every success opens a session: argon2id verify, one SQL transaction, one RS256 signature). Rate limiting
is off for the run. Probe: GET /auth/me on the same replica at a fixed ${probeRate} req/s (4 connections),
once during a login storm (the same login load) and once with the replica otherwise idle. ${rounds} rounds
of ${seconds} s per kind, the order rotating every round; the login ratio is the median of each round's
login rate ÷ that round's raw rate.

| | per round | median | p50 | p99 | Tessera cores | machine cores |
|---|---|---|---|---|---|---|
| raw argon2id | ${raw.map((r) => fmt(r.rate)).join(' · ')} | ${fmt(rawRate)}/s | | | ${fmt(median(raw.map((r) => r.cores)))} (bench) | ${fmt(median(raw.map((r) => r.machineCores)))} |
${stormRow('POST /auth/login', logins)}
${stormRow('POST /auth/login during the probe', storms)}
${probeRow('/auth/me during the storm', storms.map((s) => s.probe!))}
${probeRow('/auth/me idle', idle)}
${nicedRows}

${canRenice ? `The "nice +10" rows are an experiment, interleaved with the others on the same replica: for those runs the
bench lowered the priority of the replica's ${reniced} threads other than its event loop (libuv pool: argon2, RSA
signing; V8 helpers) with setpriority(2) on each thread id, and restored them right after. Caveat: on this
shared machine the niced threads also yield to everybody else's processes.` : 'The nice experiment was skipped: this process may not restore thread priorities (no CAP_SYS_NICE).'}

Failed logins or probes: ${failed}.
`;
  const loginCpuMs = (median(logins.map((s) => s.serverCores)) / loginRate) * 1000;
  const hashCpuMs = median(raw.map((r) => r.cores / r.rate)) * 1000;
  const bounds = `- **Login, whole machine: ${fmtRatio(loginRatio)} raw argon2id (no target since 2026-12; ${loginOk ? 'at or above' : 'below'} the former 0.85×; the login target is per component, see "Capacity").** A login is one argon2id verification
  (the same work as a hash) on the thread pool, plus SQL (a look-up and a five-statement transaction), an
  RS256 signature and the HTTP work on the event loop. With ${loginConnections} connections the pool's ${THREADPOOL} threads stay
  busy, so the replica hashes as fast as the raw run would — on what is left of ${cores} cores once its own
  event loop, its PostgreSQL backends and the load generator have run: the replica used ${fmt(loginCpuMs)} ms of CPU
  per login against ${fmt(hashCpuMs)} ms per raw hash (measured in the raw run), and the raw run had
  ${fmt(median(raw.map((r) => r.cores)))} cores to itself. The raw rate moved between ${fmt(Math.min(...raw.map((r) => r.rate)))} and ${fmt(Math.max(...raw.map((r) => r.rate)))}/s across rounds and the login rate
  between ${fmt(Math.min(...logins.map((s) => s.login.rps)))} and ${fmt(Math.max(...logins.map((s) => s.login.rps)))}/s: on this shared machine that spread is as wide as the distance to the target.
- **GET /auth/me during a login storm: p99 ${fmtMs(stormP99)} vs ${fmtMs(idleP99)} idle, ${fmtRatio(stormP99 / idleP99)} (${stormOk ? 'met' : 'missed'}).** During the
  storm ${THREADPOOL} argon2 threads want ${THREADPOOL} cores' worth of CPU on ${cores} cores, at the same priority as the
  event loop that answers /auth/me; each time the event loop wakes up it may wait for a hashing thread's
  time slice.${canRenice ? ` With the replica's non-event-loop threads at nice +10 (the experiment above), the storm p99 was
  ${fmtMs(nicedStormP99)} instead of ${fmtMs(stormP99)}, at ${fmt(nicedLoginRate)} logins/s instead of ${fmt(stormLoginRate)}/s: the hashing still takes every
  idle cycle, it just yields to request handling. In src/ that would be: at start-up, once the libuv pool
  exists, lower the priority of every thread of the process but the main one (setpriority on each
  /proc/self/task id, Linux only), or hash in a separate low-priority process.` : ''}`;
  return { rows, details, bounds };
}
