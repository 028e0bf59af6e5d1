// One process per embedded database. PGlite is PostgreSQL in one process, with no lock of
// its own: two processes on the same data folder (a second `npm start`, or the CLI while
// the server runs) each work on their own copy in memory and overwrite each other's files,
// so writes are silently lost. The first process to open the folder holds this lock; any
// other fails at once and says what to do.
//
// Node has no flock(2), so the lock is a file created atomically (link(2) of a complete
// temporary file: it exists with its content or not at all), naming its owner. It is
// stale when its owner is gone: on this machine, the process id no longer runs (or runs a
// later process that reused the id: its start time differs); from another machine (a shared
// volume), the owner stopped touching the file. A stale lock is removed only under a second,
// momentary lock (an atomic mkdir) and only if it is still the very lock judged stale, so
// however many processes take over at once, one removes it and one creates the next.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const LOCK_FILE = 'tessera.lock';
/** How often the holder touches the lock file; another machine's lock untouched for STALE_MS is abandoned. */
const HEARTBEAT_MS = 10_000;
const STALE_MS = 30_000;
/** The take-over mutex is held for microseconds; older than this, its holder died inside it. */
const TAKEOVER_STALE_MS = 10_000;
/** How long lockDataDir keeps trying while others take over a stale lock at the same moment. */
const CONTENTION_MS = 3_000;

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

interface Owner {
  pid: number;
  hostname: string;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid apart. */
  proc_start: string | null;
  started_at: string;
  command: string;
  token: string;
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly owner: Partial<Owner>,
  ) {
    const who = owner.pid
      ? `process ${owner.pid}${owner.hostname && owner.hostname !== os.hostname() ? ` on ${owner.hostname}` : ''}` +
        `${owner.command ? ` (${owner.command})` : ''}${owner.started_at ? `, started ${owner.started_at}` : ''}`
      : 'another process';
    super(
      `the data directory ${dir} is in use by ${who}. The embedded database (PGlite) allows one process at a time: ` +
        'stop the Tessera server (or other command) using it first, or set DATABASE_URL to use PostgreSQL, which any number of processes can share. ' +
        `If no Tessera process uses it, delete ${path.join(dir, LOCK_FILE)}.`,
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  release(): void;
}

/** Locks held by this process, so the same folder opened twice in one process is refused too. */
const heldHere = new Map<string, string>();

function procStart(pid: number): string | null {
  try {
    // Field 22 of /proc/<pid>/stat; the command name (field 2) may contain spaces, so count from its ')'.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function readOwner(file: string): { owner: Partial<Owner>; mtimeMs: number } | undefined {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const mtimeMs = fs.statSync(file).mtimeMs;
    try {
      return { owner: JSON.parse(text) as Partial<Owner>, mtimeMs };
    } catch {
      return { owner: {}, mtimeMs };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function isAlive(file: string, found: { owner: Partial<Owner>; mtimeMs: number }): boolean {
  const { owner, mtimeMs } = found;
  if (typeof owner.pid !== 'number' || owner.hostname !== os.hostname()) {
    // Another machine (or unreadable): only the heartbeat tells.
    return Date.now() - mtimeMs < STALE_MS;
  }
  if (owner.pid === process.pid) return heldHere.get(file) === owner.token;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = procStart(owner.pid);
  return owner.proc_start === null || owner.proc_start === undefined || start === null || start === owner.proc_start;
}

/** Takes the lock on `dir` (which must exist) or throws DataDirLockedError. */
export function lockDataDir(dir: string): DataDirLock {
  const file = path.join(dir, LOCK_FILE);
  const owner: Owner = {
    pid: process.pid,
    hostname: os.hostname(),
    proc_start: procStart(process.pid),
    started_at: new Date().toISOString(),
    command: process.argv.slice(1).map((a) => path.basename(a)).join(' ').slice(0, 200),
    token: crypto.randomBytes(16).toString('hex'),
  };
  const deadline = Date.now() + CONTENTION_MS;
  while (Date.now() < deadline) {
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(owner)}\n`, { mode: 0o600 });
    try {
      fs.linkSync(tmp, file);
      return hold(file, owner.token);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    const found = readOwner(file);
    if (!found) continue; // released meanwhile: try again
    if (isAlive(file, found)) throw new DataDirLockedError(dir, found.owner);
    if (!removeIfStill(file, found.owner)) sleepSync(5 + Math.random() * 20);
  }
  throw new DataDirLockedError(dir, readOwner(file)?.owner ?? {});
}

/**
 * Removes the lock judged stale, if it is still that lock, under the take-over mutex.
 * Tokens are unique, so once removed it never comes back: exactly one process removes it,
 * and creating the next one is atomic. Returns false when the mutex was busy.
 */
function removeIfStill(file: string, stale: Partial<Owner>): boolean {
  const mutex = `${file}.takeover`;
  try {
    fs.mkdirSync(mutex);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = Date.now() - (fs.statSync(mutex, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age > TAKEOVER_STALE_MS) fs.rmSync(mutex, { recursive: true, force: true });
    return false;
  }
  try {
    const current = readOwner(file);
    if (current && current.owner.token === stale.token && JSON.stringify(current.owner) === JSON.stringify(stale)) fs.rmSync(file, { force: true });
  } finally {
    fs.rmdirSync(mutex);
  }
  return true;
}

function hold(file: string, token: string): DataDirLock {
  heldHere.set(file, token);
  const heartbeat = setInterval(() => {
    const now = new Date();
    fs.utimes(file, now, now, () => {});
  }, HEARTBEAT_MS);
  heartbeat.unref();
  const release = () => {
    clearInterval(heartbeat);
    process.off('exit', release);
    if (heldHere.get(file) !== token) return;
    heldHere.delete(file);
    // Only our own lock: never one a process that judged ours stale has taken since.
    if (readOwner(file)?.owner.token === token) fs.rmSync(file, { force: true });
  };
  // A process that exits without closing (process.exit on a signal) still leaves no lock
  // behind; one that is killed leaves a stale one, which the next start takes over.
  process.on('exit', release);
  return { release };
}
