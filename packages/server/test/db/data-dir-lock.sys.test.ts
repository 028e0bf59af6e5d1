// The embedded database's single-writer lock, on its own: held, refused, taken over when its
// owner is gone, and won by exactly one of several processes starting at once.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DataDirLockedError, LOCK_FILE, lockDataDir } from '../../src/db/data-dir-lock.ts';
import { tempDir } from '../helpers/app.ts';
import { REPO_ROOT } from '../helpers/process.ts';

const COMPILED = pathToFileURL(path.join(REPO_ROOT, 'packages/server/dist/db/data-dir-lock.js')).href;

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

const writeLock = (dir: string, owner: Record<string, unknown>) =>
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ started_at: new Date().toISOString(), command: 'main.js', token: 'old', proc_start: null, ...owner }));

describe('data directory lock', () => {
  it('is held until released; a second holder in the same process is refused', () => {
    const dir = tempDir('tessera-lock-');
    const lock = lockDataDir(dir);
    expect(() => lockDataDir(dir)).toThrow(DataDirLockedError);
    lock.release();
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    lockDataDir(dir).release();
  });

  it('names the holder, the way out, and never says nothing', () => {
    const dir = tempDir('tessera-lock-');
    writeLock(dir, { pid: process.ppid, hostname: os.hostname(), command: 'main.js' });
    let error: unknown;
    try {
      lockDataDir(dir);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DataDirLockedError);
    const message = (error as Error).message;
    expect(message).toContain(dir);
    expect(message).toContain(`process ${process.ppid}`);
    expect(message).toMatch(/stop the Tessera server/);
    expect(message).toContain('DATABASE_URL');
  });

  it('takes over the lock of a process that is gone, or whose pid now runs another process', () => {
    const dir = tempDir('tessera-lock-');
    writeLock(dir, { pid: deadPid(), hostname: os.hostname() });
    lockDataDir(dir).release();
    if (fs.existsSync(`/proc/${process.ppid}/stat`)) {
      writeLock(dir, { pid: process.ppid, hostname: os.hostname(), proc_start: '1' }); // alive, but not the process that locked
      lockDataDir(dir).release();
    }
  });

  it('respects another machine’s lock while its owner touches it, and not after', () => {
    const dir = tempDir('tessera-lock-');
    writeLock(dir, { pid: 1, hostname: 'some-other-host' });
    expect(() => lockDataDir(dir)).toThrow(/process 1 on some-other-host/);
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(path.join(dir, LOCK_FILE), old, old);
    lockDataDir(dir).release();
  });

  it('exactly one of several processes starting at once gets it, with or without a stale lock there', async () => {
    for (const stale of [false, true]) {
      const dir = tempDir('tessera-lock-');
      if (stale) writeLock(dir, { pid: deadPid(), hostname: os.hostname() });
      // Each child loads the module, says so, and tries the lock on "go" (all at once), then
      // holds what it got until its stdin closes.
      const script = `import { lockDataDir } from ${JSON.stringify(COMPILED)};
        process.stdout.write('ready\\n');
        process.stdin.once('data', () => {
          try { lockDataDir(${JSON.stringify(dir)}); process.stdout.write('locked\\n'); }
          catch (err) { process.stdout.write(err.name + '\\n'); }
          process.stdin.on('end', () => process.exit(0)).resume();
        });`;
      const children = Array.from({ length: 6 }, () => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
        const lines: string[] = [];
        const waiters: (() => void)[] = [];
        child.stdout.on('data', (d: Buffer) => {
          lines.push(...d.toString().split('\n').filter(Boolean));
          waiters.splice(0).forEach((w) => w());
        });
        const nth = (n: number) =>
          new Promise<string>((resolve) => {
            const check = () => (lines.length >= n ? resolve(lines[n - 1]!) : waiters.push(check));
            check();
          });
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        return { child, nth, exited };
      });
      await Promise.all(children.map((c) => c.nth(1)));
      for (const c of children) c.child.stdin.write('go\n');
      const outcomes = await Promise.all(children.map((c) => c.nth(2)));
      for (const c of children) c.child.stdin.end();
      await Promise.all(children.map((c) => c.exited));
      expect(outcomes.filter((o) => o === 'locked'), `stale=${stale}: ${outcomes.join(',')}`).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'DataDirLockedError')).toHaveLength(5);
      // The winner exited: its lock went with it.
      expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    }
  }, 60_000);
});
