// `npm run lab`: every architecture in turn — three replicas behind nginx, the same workload,
// the same faults — then lab/RESULTS.md and lab/results.svg from what was measured.
//   --profile quick|full  (full: the committed results; quick: the test's short run)
//   --users N --rate R (authenticated requests/s, all users) --duration S (steady seconds)
//   --only id[,id] (memory, sticky, tomcat-delta, tomcat-backup, flask-cookie, redis-store,
//     flask-redis, flask-memcached, pg-store, tessera)
//   --out DIR (where RESULTS.md, results.svg and results.json go; default lab/)
//   --render (no run: RESULTS.md and results.svg again from DIR/results.json, after a change
//     to the report's wording)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { killAllChildServices, killChildServicesOnInterrupt } from '../scripts/lib/child-service.ts';
import { REPO_ROOT } from '../scripts/lib/node-script.ts';
import { ARCHITECTURES } from './architectures/index.ts';
import type { ArchitectureId } from './architectures/types.ts';
import { renderResults, renderSvg, type LabResult, type LabRun } from './report.ts';
import { runWorkload, type WorkloadOptions } from './workload.ts';

export const PROFILES: Record<'quick' | 'full', Omit<WorkloadOptions, 'log'>> = {
  full: { users: 60, rate: 120, steadySeconds: 8, downSeconds: 2, settleSeconds: 2, outageSeconds: 3, logoutSamples: 8, logoutWatchSeconds: 30, passwordWatchSeconds: 5, lagSamples: 8, memorySessions: 2_000 },
  quick: { users: 20, rate: 60, steadySeconds: 4, downSeconds: 2, settleSeconds: 2, outageSeconds: 2, logoutSamples: 3, logoutWatchSeconds: 5, passwordWatchSeconds: 3, lagSamples: 3, memorySessions: 600 },
};

export interface LabOptions {
  profile: 'quick' | 'full';
  only?: ArchitectureId[];
  overrides?: Partial<WorkloadOptions>;
  /** Folder for RESULTS.md, results.svg, results.json (none written when undefined). */
  out?: string;
  log?: (line: string) => void;
}

export async function runLab(options: LabOptions): Promise<LabRun> {
  const log = options.log ?? ((line: string) => console.log(line));
  const workload: WorkloadOptions = { ...PROFILES[options.profile], ...options.overrides, log };
  const chosen = ARCHITECTURES.filter((a) => !options.only || options.only.includes(a.id));
  const results: LabResult[] = [];
  const started = Date.now();
  const loadAtStart = os.loadavg();
  for (const arch of chosen) {
    log(`${arch.label} (${arch.id})`);
    const t0 = performance.now();
    let deployment;
    try {
      deployment = await arch.start();
    } catch (err) {
      log(`  could not start: ${(err as Error).message.split('\n')[0]}`);
      results.push({ id: arch.id, label: arch.label, what: arch.what, error: (err as Error).message.split('\n').slice(0, 3).join(' ') });
      continue;
    }
    const startSeconds = (performance.now() - t0) / 1000;
    try {
      const measured = await runWorkload(deployment, workload);
      results.push({ id: arch.id, label: arch.label, what: arch.what, startSeconds, measured });
      log(`  ${arch.id}: started in ${startSeconds.toFixed(1)} s, ran in ${((performance.now() - t0) / 1000 - startSeconds).toFixed(1)} s`);
    } catch (err) {
      log(`  failed: ${(err as Error).stack}`);
      results.push({ id: arch.id, label: arch.label, what: arch.what, error: (err as Error).message.split('\n')[0]! });
    } finally {
      await deployment.close();
    }
  }
  const run: LabRun = {
    profile: options.profile,
    workload: { ...workload, log: undefined },
    machine: machineLine(),
    date: new Date().toISOString(),
    seconds: (Date.now() - started) / 1000,
    load: { start: loadAtStart, end: os.loadavg() },
    results,
  };
  if (options.out) {
    fs.mkdirSync(options.out, { recursive: true });
    fs.writeFileSync(path.join(options.out, 'results.json'), `${JSON.stringify(run, null, 2)}\n`);
    fs.writeFileSync(path.join(options.out, 'results.svg'), renderSvg(run));
    fs.writeFileSync(path.join(options.out, 'RESULTS.md'), renderResults(run));
  }
  return run;
}

function machineLine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      profile: { type: 'string', default: 'full' },
      users: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      only: { type: 'string' },
      out: { type: 'string' },
      render: { type: 'boolean', default: false },
    },
  });
  if (values.render) {
    const dir = values.out ?? path.join(REPO_ROOT, 'lab');
    const run = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as LabRun;
    fs.writeFileSync(path.join(dir, 'results.svg'), renderSvg(run));
    fs.writeFileSync(path.join(dir, 'RESULTS.md'), renderResults(run));
    console.log(`rendered ${path.join(dir, 'RESULTS.md')} from results.json`);
    return;
  }
  const profile = values.profile === 'quick' ? 'quick' : values.profile === 'full' ? 'full' : undefined;
  if (!profile) throw new Error('--profile must be quick or full');
  const overrides: Partial<WorkloadOptions> = {};
  const num = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  const users = num('users', values.users);
  const rate = num('rate', values.rate);
  const duration = num('duration', values.duration);
  if (users) overrides.users = Math.round(users);
  if (rate) overrides.rate = rate;
  if (duration) overrides.steadySeconds = duration;
  const ids = ARCHITECTURES.map((a) => a.id);
  const only = values.only?.split(',').map((s) => s.trim()) as ArchitectureId[] | undefined;
  for (const id of only ?? []) if (!ids.includes(id)) throw new Error(`--only: unknown architecture ${id} (${ids.join(', ')})`);
  const out = values.out ?? path.join(REPO_ROOT, 'lab');
  await runLab({ profile, overrides, out, ...(only ? { only } : {}) });
  console.log(`wrote ${path.join(out, 'RESULTS.md')}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  killChildServicesOnInterrupt();
  main().catch((err: unknown) => {
    killAllChildServices();
    console.error(err);
    process.exit(1);
  });
}
