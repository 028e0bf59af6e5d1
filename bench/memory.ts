// Resident memory of one Tessera process, idle, in the two shapes issue 23 sets bounds for:
// the embedded default (PGlite; its first start, which runs initdb, and a later one) and a
// replica on PostgreSQL + Redis (after start, and after five registrations and logins).
// Each is measured for the server as it was before the footprint work (BASELINE, compiled
// from `git archive` into a temporary folder, on the same node_modules) and as it is now, run
// plainly (`node dist/main.js`) and as the Docker image runs it (IMAGE below), interleaved in
// one run, next to a bare `node -e` process: the floor.
//
//   node --import tsx bench/memory.ts [rounds]      (npm run bench:memory)
// BENCH_BASELINE_REV picks another baseline commit.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, SERVER_MAIN } from '../scripts/lib/node-script.ts';
import { Client } from './lib/client.ts';
import { createInfra, login, register, uniqueEmail } from './lib/cluster.ts';
import { rssBytes, startServer } from './lib/process.ts';
import { fmt, fmtMiB, fmtRatio, median, sleep } from './lib/stats.ts';

const BASELINE_REV = process.env.BENCH_BASELINE_REV ?? '864a23d';
/** What deploy/Dockerfile sets (docs/operate/deployment.md, "Memory"). */
const IMAGE = { env: { MALLOC_MMAP_THRESHOLD_: '131072' }, nodeArgs: ['--max-semi-space-size=2'] };
const IDLE_MS = 10_000;

interface Variant {
  label: string;
  script: string;
  env: Record<string, string>;
  nodeArgs: string[];
}

/** The baseline's server, compiled from its own sources (the verifier is unchanged since: the current build). */
function buildBaseline(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-baseline-'));
  const tar = execFileSync('git', ['archive', BASELINE_REV, 'tsconfig.base.json', 'packages/server'], { cwd: REPO_ROOT, maxBuffer: 256 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(dir, 'packages/server/tsconfig.build.json')], { stdio: 'inherit' });
  return dir;
}

interface Sample {
  readyMs: number;
  /** CPU (user + system) of the server and of the children it waited for (the initdb child), spawn → ready. */
  cpuMs: number;
  rss: number;
}

function cpuMsWithChildren(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return (f[11]! + f[12]! + f[13]! + f[14]!) * 10; // utime stime cutime cstime, USER_HZ 100
}

/** Starts, optionally does `work` registrations + logins, idles IDLE_MS, reads VmRSS. */
async function measure(variant: Variant, env: Record<string, string>, work: number): Promise<Sample> {
  const started = performance.now();
  const server = await startServer({ name: variant.label, script: variant.script, env: { ...env, ...variant.env }, nodeArgs: variant.nodeArgs, readyPath: '/readyz', pollMs: 10, readyTimeoutMs: 120_000 });
  const readyMs = performance.now() - started;
  const cpuMs = cpuMsWithChildren(server.pid!);
  const client = new Client(2);
  try {
    for (let i = 0; i < work; i++) {
      const email = uniqueEmail('memory');
      await register(client, server.url, email);
      await login(client, server.url, email);
    }
    await sleep(IDLE_MS);
    return { readyMs, cpuMs, rss: rssBytes(server.pid!) };
  } finally {
    client.close();
    await server.stop();
  }
}

async function floor(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await sleep(2_000);
  const rss = rssBytes(child.pid!);
  child.kill();
  return rss;
}

const rounds = Number(process.argv[2] ?? 1);
const baselineDir = buildBaseline();
const variants: Variant[] = [
  { label: `before (${BASELINE_REV})`, script: path.join(baselineDir, 'packages/server/dist/main.js'), env: {}, nodeArgs: [] },
  { label: 'now, node dist/main.js', script: SERVER_MAIN, env: {}, nodeArgs: [] },
  { label: 'now, as the image runs it', script: SERVER_MAIN, ...IMAGE },
];
const SCENARIOS = ['embedded, first start, 3 sign-ups', 'embedded, later start, 3 sign-ups', 'replica, after start', 'replica, 5 sign-ups'] as const;
type Scenario = (typeof SCENARIOS)[number];
const results = new Map<string, Sample[]>();
const add = (v: Variant, s: Scenario, r: Sample) => results.set(`${v.label}|${s}`, [...(results.get(`${v.label}|${s}`) ?? []), r]);

const infra = await createInfra();
const floors: number[] = [];
try {
  for (let round = 0; round < rounds; round++) {
    floors.push(await floor());
    for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-memory-'));
      const embedded = { KEYS_DIR: path.join(dir, 'keys'), DATA_DIR: path.join(dir, 'data'), ISSUER: 'http://tessera.bench', RATE_LIMIT_ENABLED: 'false' };
      add(v, SCENARIOS[0], await measure(v, embedded, 3));
      add(v, SCENARIOS[1], await measure(v, embedded, 3));
      fs.rmSync(dir, { recursive: true, force: true });
      add(v, SCENARIOS[2], await measure(v, infra.tesseraEnv, 0));
      add(v, SCENARIOS[3], await measure(v, infra.tesseraEnv, 5));
    }
  }
} finally {
  await infra.cleanup();
  fs.rmSync(baselineDir, { recursive: true, force: true });
}

const med = (v: Variant, s: Scenario, key: keyof Sample) => median(results.get(`${v.label}|${s}`)!.map((r) => r[key]));
const [before] = variants;
const lines = [
  `Floor: a bare \`node -e\` process (Node ${process.version}): ${fmtMiB(median(floors))}. Load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(', ')} (${os.cpus().length} cores). ${rounds} round(s), medians.`,
  '',
  '| scenario | variant | RSS idle | × before | × floor | CPU spawn → /readyz | wall spawn → /readyz |',
  '|---|---|---|---|---|---|---|',
];
for (const s of SCENARIOS) {
  for (const v of variants) {
    const rss = med(v, s, 'rss');
    const vs = (key: keyof Sample) => `${fmt(med(v, s, key))} ms (${fmtRatio(med(v, s, key) / med(before!, s, key))})`;
    lines.push(`| ${s} | ${v.label} | ${fmtMiB(rss)} | ${fmtRatio(rss / med(before!, s, 'rss'))} | ${fmtRatio(rss / median(floors))} | ${vs('cpuMs')} | ${vs('readyMs')} |`);
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
