// One writer per embedded database, with real processes: the compiled server holds ./data;
// a second server, or the CLI, on the same folder fails at once (exit 1, a message that
// says what to do) instead of "succeeding" and losing its writes. Nothing is lost: what the
// CLI does once the server has stopped is there when it starts again.
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/app.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { freePort, REPO_ROOT, SERVER_CLI, SERVER_MAIN, startProcess, type TesseraProcess } from '../helpers/process.ts';

const json = { 'content-type': 'application/json' };

describe('embedded database: one process at a time', () => {
  const env = { DATA_DIR: tempDir('tessera-data-'), KEYS_DIR: tempDir('tessera-keys-'), ARGON2_MEMORY_KIB: '19456' };
  let server: TesseraProcess | undefined;
  afterAll(async () => {
    await server?.stop('SIGKILL');
  });

  /** The compiled CLI, as an operator runs it. */
  const cli = (args: string[], input = '') => {
    const started = performance.now();
    const result = spawnSync(process.execPath, [SERVER_CLI, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      input,
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { ...result, ms: Math.round(performance.now() - started) };
  };
  const login = (email: string) =>
    fetch(`${server!.url}/auth/login`, { method: 'POST', headers: json, body: JSON.stringify({ email, password: PASSWORD }) });

  it('refuses the CLI and a second server while the server runs; nothing is lost', async () => {
    server = await startProcess({ env, readyTimeoutMs: 120_000 });
    const first = uniqueEmail('first');
    expect((await fetch(`${server.url}/auth/register`, { method: 'POST', headers: json, body: JSON.stringify({ email: first, password: PASSWORD }) })).status).toBe(201);

    // The CLI while the server runs: exit 1 at once, no "created user".
    const refused = cli(['users', 'create', uniqueEmail('lost')], `${PASSWORD}\n`);
    console.log(`CLI refused in ${refused.ms} ms`);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^tessera: the data directory .* is in use by process \d+/);
    expect(refused.stderr).toContain('DATABASE_URL');
    for (const command of [['users', 'disable', first], ['sessions', 'revoke', '--user', first]]) {
      const other = cli(command);
      expect(other.status, other.stderr).toBe(1);
      expect(other.stderr).toContain('is in use');
    }

    // A second server on the same folder: exit 1, one clear line, the first one unharmed.
    const second = spawn(process.execPath, [SERVER_MAIN], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', ...env, PORT: String(await freePort()), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    second.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => second.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^tessera: failed to start: the data directory .* is in use/);
    expect((await login(first)).status).toBe(200);

    // Stopped: the CLI works, and what it does is there when the server is back.
    expect(await server.stop('SIGTERM')).toBe(0);
    const created = uniqueEmail('created');
    const create = cli(['users', 'create', created], `${PASSWORD}\n`);
    expect(create.status, create.stderr).toBe(0);
    expect(create.stdout).toMatch(/^created user [0-9a-f-]{36} </);
    expect(cli(['users', 'disable', first]).status).toBe(0);

    server = await startProcess({ env, readyTimeoutMs: 120_000 });
    expect((await login(created)).status).toBe(200);
    expect((await login(first)).status).toBe(401);
  }, 300_000);

  it('two servers started at once on a fresh folder: one runs initdb (in its child) and serves, the other refuses', async () => {
    const fresh = { ...env, DATA_DIR: tempDir('tessera-data-fresh-') };
    const start = async () => {
      const port = await freePort();
      const child = spawn(process.execPath, [SERVER_MAIN], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', ...fresh, PORT: String(port), HOST: '127.0.0.1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      return { child, port, stderr: () => stderr, exited: new Promise<number | null>((resolve) => child.once('exit', resolve)) };
    };
    const both = [await start(), await start()];
    try {
      // The loser exits at once; the winner keeps running (it would exit 1 too if its initdb failed).
      const loser = await Promise.race(both.map((p, i) => p.exited.then((code) => ({ i, code }))));
      expect(loser.code).toBe(1);
      expect(both[loser.i]!.stderr()).toMatch(/is in use by process \d+/);
      const winner = both[1 - loser.i]!;
      let ready = false;
      while (!ready && winner.child.exitCode === null) {
        ready = await fetch(`http://127.0.0.1:${winner.port}/readyz`).then((res) => res.status === 200, () => false);
        if (!ready) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(ready, winner.stderr()).toBe(true);
    } finally {
      for (const p of both) p.child.kill('SIGTERM');
      await Promise.all(both.map((p) => p.exited));
    }
    // The folder the winner initialised opens normally.
    const again = await startProcess({ env: fresh, readyTimeoutMs: 120_000 });
    expect(await again.stop('SIGTERM')).toBe(0);
  }, 300_000);

  it('a server that was killed leaves a stale lock that the next process takes over', async () => {
    server ??= await startProcess({ env, readyTimeoutMs: 120_000 });
    await server.stop('SIGKILL');
    const after = cli(['sessions', 'list', '--user', uniqueEmail('nobody')]);
    expect(after.stderr).not.toContain('is in use');
    expect(after.stderr).toContain('no user');
    server = await startProcess({ env, readyTimeoutMs: 120_000 });
  }, 300_000);
});
