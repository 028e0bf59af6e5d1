// Live memory of the lab's servers, measured the same way per runtime: the heap still in use
// after a full garbage collection (Node: heapUsed + external through lab/apps/heap-probe.mjs;
// JVM: jcmd GC.run then GC.heap_info "used"), Redis's used_memory; PostgreSQL's table sizes are
// lab/lib/postgres.ts's tableBytes().
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';

const run = promisify(execFile);

/**
 * Where probed processes write their heap reports. Made once per lab process and removed when
 * it exits, so importing this module (the lab test does, on every run) leaves nothing in /tmp.
 */
export const HEAP_PROBE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-lab-heap-'));
process.once('exit', () => fs.rmSync(HEAP_PROBE_DIR, { recursive: true, force: true }));
/** Node flags that let nodeLiveBytes() ask a process for its live heap. */
export const HEAP_PROBE_ARGS = ['--expose-gc', '--import', pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), '../apps/heap-probe.mjs')).href];

export async function nodeLiveBytes(pid: number): Promise<number> {
  const file = path.join(HEAP_PROBE_DIR, `${pid}.json`);
  fs.rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 200; i++) {
    await sleep(25);
    try {
      const m = JSON.parse(fs.readFileSync(file, 'utf8')) as { heapUsed: number; external: number };
      return m.heapUsed + m.external;
    } catch {
      // not written yet
    }
  }
  throw new Error(`no heap report from pid ${pid}`);
}

export async function jvmLiveBytes(pid: number): Promise<number> {
  await run('jcmd', [String(pid), 'GC.run'], { timeout: 30_000 });
  const { stdout } = await run('jcmd', [String(pid), 'GC.heap_info'], { timeout: 30_000 });
  // "def new generation total 4928K, used 301K" ... "tenured generation total 10944K, used 6512K"
  let used = 0;
  for (const m of stdout.matchAll(/generation\s+total \d+K, used (\d+)K/g)) used += Number(m[1]) * 1024;
  if (used === 0) {
    const m = /used (\d+)K/.exec(stdout);
    if (!m) throw new Error(`cannot read jcmd GC.heap_info:\n${stdout}`);
    used = Number(m[1]) * 1024;
  }
  return used;
}

/**
 * Resident memory of a process (VmRSS). For the Python replicas, which have no cheap live-heap
 * figure: an upper bound on what they keep (freed memory mostly stays resident in CPython's
 * arenas), noisy, but enough to show they keep no per-session state.
 */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}
