// A CPU profile of a replica under refresh load: `node --import tsx bench/capacity/profile-refresh.ts [refreshes]`
// (V8's --cpu-prof), or with BENCH_PERF=<file> `perf record` (CPU samples of every thread;
// writes bench/capacity-profile.json for RESULTS.md).
// One compiled replica (LOG_LEVEL info, as shipped) on the shared PostgreSQL and a private
// Redis, 32 rotation chains; prints the main thread's self time by category during the load
// (bench/capacity/profile.ts) and the replica's CPU per refresh from /proc.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRedis } from '../../lab/lib/redis.ts';
import { killAllChildServices } from '../../scripts/lib/child-service.ts';
import { Client, pool } from '../lib/client.ts';
import { SERVER_MAIN } from '../../scripts/lib/node-script.ts';
import { createInfra, login, register, uniqueEmail, type Pair } from '../lib/cluster.ts';
import { cpuSecondsOf, ROOT, startServer } from '../lib/process.ts';
import { fmt } from '../lib/stats.ts';
import { AS_SHIPPED_LIMITS } from './measure.ts';
import { attributePerf, groupAttribution, summariseProfile } from './profile.ts';

const PERF = process.env.BENCH_PERF;
const REFRESHES = Number(process.argv[2] ?? 6000);
const CHAINS = 32;

/** CPU seconds per thread name (the main thread is "main"; libuv's pool threads share a name). */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = Number(tid) === pid ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      // thread gone
    }
  }
  return out;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-refresh-profile-'));
  const redis = await startRedis();
  const infra = await createInfra({ redisUrl: redis.url });
  const client = new Client(CHAINS);
  const spawned = performance.now();
  // BENCH_SERVER_MAIN: another build of the server (an A/B of a change), default the compiled one.
  const replica = await startServer({
    name: 'profiled',
    script: process.env.BENCH_SERVER_MAIN ?? SERVER_MAIN,
    // BENCH_PERF=<file>: `perf record` of the replica during the load instead of V8's profiler,
    // which samples wall time (a thread descheduled inside a frame is charged to it).
    nodeArgs: [
      ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      ...(PERF ? ['--perf-basic-prof'] : process.env.BENCH_NO_PROFILE === '1' ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`]),
    ],
    env: {
    ...infra.tesseraEnv,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    REFRESH_GRACE_PERIOD: '0',
    SHUTDOWN_LINGER_MS: '0',
    ...AS_SHIPPED_LIMITS,
    },
  });
  try {
    const email = uniqueEmail('profile');
    await register(client, replica.url, email);
    const chains: Pair[] = await pool(CHAINS, 4, () => login(client, replica.url, email));
    const run = async (count: number) => {
      const per = Math.ceil(count / CHAINS);
      await Promise.all(
        chains.map(async (_, i) => {
          for (let k = 0; k < per; k++) {
            const res = await client.post(`${replica.url}/auth/refresh`, { refresh_token: chains[i]!.refresh_token });
            if (res.status !== 200) throw new Error(`refresh: ${res.status} ${res.body}`);
            chains[i] = JSON.parse(res.body) as Pair;
          }
        }),
      );
      return per * CHAINS;
    };
    await run(3000); // warm-up: pool, sockets, and most of V8's optimising compiler (see bench:capacity)
    const perf = PERF ? spawn('perf', ['record', '-F', '999', '-g', '-p', String(replica.pid), '-o', PERF], { stdio: 'ignore' }) : undefined;
    if (perf) await new Promise((r) => setTimeout(r, 500));
    const from = performance.now() - spawned;
    const outputMark = replica.output().length;
    const cpu0 = cpuSecondsOf(replica.pid!);
    const threads0 = threadCpu(replica.pid!);
    const done = await run(REFRESHES);
    const cpu = cpuSecondsOf(replica.pid!) - cpu0;
    const threads = threadCpu(replica.pid!);
    const to = performance.now() - spawned;
    if (perf) {
      perf.kill('SIGINT');
      await new Promise((r) => perf.once('exit', r));
    }
    client.close();
    if (process.env.BENCH_SHOW_OUTPUT) fs.writeFileSync(process.env.BENCH_SHOW_OUTPUT, replica.output().slice(outputMark));
    await replica.stop();
    const byThread = Object.fromEntries(
      [...threads].map(([name, sec]) => [name, ((sec - (threads0.get(name) ?? 0)) / done) * 1e6] as const).filter(([, us]) => us > 0),
    );
    if (PERF) {
      const report = execFileSync('perf', ['script', '-i', PERF, '-F', 'tid,ip,sym,dso'], {
        encoding: 'utf8',
        maxBuffer: 512 * 1024 * 1024,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const cpuMs = (cpu / done) * 1000;
      const categories = groupAttribution(attributePerf(report)).filter((c) => c.share >= 0.004);
      // bench:capacity's section of RESULTS.md shows the last one (bench/capacity/report.ts).
      const saved = { date: new Date().toISOString(), loadAverage: os.loadavg().map((l) => l.toFixed(2)).join(' / '), refreshes: done, cpuMsPerRefresh: cpuMs, threadsUsPerRefresh: byThread, categories };
      fs.writeFileSync(path.join(ROOT, 'bench', 'capacity-profile.json'), `${JSON.stringify(saved, null, 2)}\n`);
      process.stdout.write(
        `${done} refreshes: replica CPU ${fmt(cpuMs)} ms per refresh; by thread ${Object.entries(byThread).map(([n, us]) => `${n} ${fmt(us)} µs`).join(', ')}\n\n| nearest JavaScript caller (perf, CPU samples of every thread) | share | per refresh |\n|---|---|---|\n${categories
          .map((c) => `| ${c.name} | ${(c.share * 100).toFixed(1)} % | ${fmt(c.share * cpuMs * 1000)} µs |`)
          .join('\n')}\nWritten: bench/capacity-profile.json\n`,
      );
      return;
    }
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    const summary = file ? summariseProfile(path.join(dir, file), { fromMs: from, toMs: to, top: 25 }) : { totalMs: 0, categories: [], top: [] };
    const perRefresh = (ms: number) => `${fmt((ms / done) * 1000)} µs`;
    const lines = [
      `${done} refreshes: replica CPU ${fmt((cpu / done) * 1000)} ms per refresh (all threads, /proc); main thread sampled ${perRefresh(summary.totalMs)} per refresh`,
      `replica CPU per refresh by thread (/proc/<pid>/task): ${[...threads]
        .map(([name, sec]) => [name, sec - (threads0.get(name) ?? 0)] as const)
        .filter(([, sec]) => sec > 0)
        .sort((a, b) => b[1] - a[1])
        .map(([name, sec]) => `${name} ${fmt((sec / done) * 1e6)} µs`)
        .join(', ')}`,
      '',
      '| category (main thread, self time) | share | per refresh |',
      '|---|---|---|',
      ...summary.categories.filter((c) => c.share >= 0.005).map((c) => `| ${c.name} | ${(c.share * 100).toFixed(1)} % | ${perRefresh(c.ms)} |`),
      '',
      '| top frames | share |',
      '|---|---|',
      ...summary.top.map((t) => `| \`${t.frame}\` | ${(t.share * 100).toFixed(1)} % |`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    client.close();
    await replica.stop();
    await infra.cleanup();
    await redis.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  killAllChildServices();
  process.stderr.write(`profile failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
