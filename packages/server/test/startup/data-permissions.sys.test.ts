// The embedded database holds e-mail addresses and password hashes (pg_wal too), the mail
// folder holds reset links and the keys folder the signing keys: started under the common
// umask 022, the compiled server still creates all of it owner-only, and an existing folder
// with looser modes is repaired at start with one warning.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { startProcess, type TesseraProcess } from '../helpers/process.ts';

/** Every entry under `dir` (itself included) whose mode lets the group or others in. */
function loose(dir: string): string[] {
  const found: string[] = [];
  const walk = (p: string) => {
    const stat = fs.lstatSync(p);
    if ((stat.mode & 0o077) !== 0) found.push(`${path.relative(dir, p) || '.'} ${(stat.mode & 0o777).toString(8)}`);
    if (stat.isDirectory()) for (const name of fs.readdirSync(p)) walk(path.join(p, name));
  };
  walk(dir);
  return found;
}

function count(dir: string): number {
  let n = 1;
  if (fs.lstatSync(dir).isDirectory()) for (const name of fs.readdirSync(dir)) n += count(path.join(dir, name));
  return n;
}

async function waitForMail(dir: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.endsWith('.eml'))) return;
    await sleep(100);
  }
  throw new Error(`no .eml file appeared in ${dir}`);
}

describe('the embedded data folder is owner-only whatever the umask', () => {
  const root = tempDir('tessera-perm-');
  const dataDir = path.join(root, 'data');
  const keysDir = path.join(root, 'keys');
  const mailDir = path.join(dataDir, 'mail');
  const env = { DATA_DIR: dataDir, KEYS_DIR: keysDir, MAIL_DIR: mailDir, LOG_LEVEL: 'info', ARGON2_MEMORY_KIB: '19456' };
  let server: TesseraProcess | undefined;
  let previousUmask: number;
  beforeAll(() => {
    // The child inherits it: what most systems default to.
    previousUmask = process.umask(0o022);
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
    process.umask(previousUmask);
  });

  it('creates ./data (database, WAL, mail) and the keys folder owner-only under umask 022', async () => {
    server = await startProcess({ env, readyTimeoutMs: 120_000 });
    const res = await fetch(`${server.url}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: uniqueEmail('perm'), password: PASSWORD }),
    });
    expect(res.status).toBe(201);
    await waitForMail(mailDir);
    // While it runs, nobody else can even enter the folder.
    expect(fs.statSync(dataDir).mode & 0o077).toBe(0);
    expect(loose(mailDir)).toEqual([]);
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(count(dataDir)).toBeGreaterThan(100);
    expect(fs.existsSync(path.join(dataDir, 'pg_wal'))).toBe(true);
    expect(loose(dataDir)).toEqual([]);
    expect(loose(keysDir)).toEqual([]);
    expect(server.output()).not.toContain('data.permissions_repaired');
  }, 300_000);

  it('repairs an existing folder with looser modes at start, with one warning', async () => {
    // As a server before this fix left it: directories 0755, files 0644.
    const loosen = (p: string) => {
      const stat = fs.lstatSync(p);
      fs.chmodSync(p, stat.isDirectory() ? 0o755 : 0o644);
      if (stat.isDirectory()) for (const name of fs.readdirSync(p)) loosen(path.join(p, name));
    };
    loosen(dataDir);
    const entries = count(dataDir);
    expect(loose(dataDir)).toHaveLength(entries);

    server = await startProcess({ env, readyTimeoutMs: 120_000 });
    const warnings = server
      .output()
      .split('\n')
      .filter((line) => line.includes('"data.permissions_repaired"'));
    expect(warnings).toHaveLength(1);
    const warning = JSON.parse(warnings[0]!) as { level: unknown; fixed: number; dir: string; msg: string };
    expect(warning.fixed).toBe(entries);
    expect(warning.dir).toBe(dataDir);
    expect(warning.msg).toContain('owner-only');
    expect(loose(dataDir)).toEqual([]);
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(loose(dataDir)).toEqual([]);
  }, 300_000);
});
