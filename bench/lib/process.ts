// The benchmarks' servers (the shared launcher, scripts/lib/node-server.ts, with the
// benchmarks' defaults) and the /proc meters that measure them: resident memory and CPU.
import fs from 'node:fs';
import { startNodeServer, type NodeServer, type NodeServerOptions } from '../../scripts/lib/node-server.ts';

export { REPO_ROOT as ROOT } from '../../scripts/lib/node-script.ts';

export { freePort } from '../../scripts/lib/ports.ts';

export type ServerProcess = NodeServer;

/**
 * Starts a server (one Node process, as in production) on a free loopback port and waits
 * until it answers. A benchmark's server has 5 s to drain on stop(), then it is killed.
 */
export function startServer(options: NodeServerOptions & { name: string }): Promise<ServerProcess> {
  return startNodeServer({ stopGraceMs: 5_000, ...options });
}

/** Resident set size in bytes (VmRSS from /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** Samples the RSS of `pid` every `everyMs` until the returned function is called; it returns the peak. */
export function sampleRss(pid: number, everyMs = 100): () => number {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // the process is gone; keep the peak seen so far
    }
  }, everyMs);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at index 3 (state).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / 100; // USER_HZ is 100 on Linux
}

/** Pids of every process whose name (/proc/<pid>/comm) is `comm`, e.g. postgres or redis-server. */
export function pidsNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * Cores used by groups of processes between the call and the returned function's call. A
 * group is a pid, a list of pids, or a process name (all processes of that name, including
 * ones started meanwhile, such as new PostgreSQL backends).
 */
export function cpuMeter(groups: Record<string, number | number[] | string>): () => Record<string, number> {
  const pidsOf = (g: number | number[] | string) => (typeof g === 'string' ? pidsNamed(g) : Array.isArray(g) ? g : [g]);
  const read = (pid: number) => {
    if (pid === process.pid) {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    }
    try {
      return cpuSecondsOf(pid);
    } catch {
      return undefined;
    }
  };
  const before = new Map<number, number>();
  for (const g of Object.values(groups)) for (const pid of pidsOf(g)) before.set(pid, read(pid) ?? 0);
  const t0 = performance.now();
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    return Object.fromEntries(
      Object.entries(groups).map(([name, g]) => {
        let used = 0;
        for (const pid of pidsOf(g)) {
          const now = read(pid);
          if (now !== undefined) used += now - (before.get(pid) ?? 0);
        }
        return [name, used / seconds];
      }),
    );
  };
}

/** Busy cores of the whole machine (every process, ours or not) between the call and the returned function's call. */
export function machineMeter(): () => number {
  const read = () => {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (line[3] ?? 0) + (line[4] ?? 0);
    const total = line.reduce((a, b) => a + b, 0);
    return { idle, total };
  };
  const a = read();
  const t0 = performance.now();
  return () => {
    const b = read();
    const seconds = (performance.now() - t0) / 1000;
    return ((b.total - a.total - (b.idle - a.idle)) / 100) / seconds;
  };
}
