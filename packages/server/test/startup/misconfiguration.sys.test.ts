// Misconfiguration fails loudly, as a new user meets it: the compiled server, started against
// a closed port, a Redis database that does not exist or a port already taken, stops with one
// line that names the variable at fault (never a password it holds), before any migration.
// Redis that is merely unreachable does not stop the start (the denylist starts degraded and
// catches up), but the warning still names the variable.
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeServer } from '../../../../scripts/lib/node-server.ts';
import { tempDir } from '../helpers/app.ts';
import { freePort, startProcess, type TesseraProcess } from '../helpers/process.ts';

const PASSWORD = 'hunter2-do-not-print';

/** A fresh embedded setup: nothing migrated yet, so a migration would show in the log. */
const embedded = () => {
  const root = tempDir('tessera-startup-');
  return { DATA_DIR: path.join(root, 'data'), KEYS_DIR: path.join(root, 'keys'), LOG_LEVEL: 'info', ARGON2_MEMORY_KIB: '19456' };
};

/** A port nothing listens on: bound then released. */
async function closedPort(): Promise<number> {
  return freePort();
}

/** Another process's listener on a port; connections to it (the launcher's readiness polls) are dropped. */
async function holdPort(): Promise<{ holder: net.Server; port: number }> {
  const holder = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  return { holder, port: (holder.address() as net.AddressInfo).port };
}

/** Starts the server expecting it to give up: resolves with its exit code and output. */
async function failedStart(env: Record<string, string>, port?: number): Promise<{ code: number | null; output: string }> {
  const server = new NodeServer(port ?? (await freePort()), { env, readyTimeoutMs: 120_000 });
  const started = await server.start().then(
    () => true,
    () => false,
  );
  // A server that came up despite the misconfiguration is the failure under test: stop it.
  if (started) await server.stop('SIGKILL');
  expect(started, server.output()).toBe(false);
  return { code: await server.exited, output: server.output() };
}

describe('infrastructure errors at start name their variable', { timeout: 180_000 }, () => {
  let running: TesseraProcess | undefined;
  afterEach(async () => {
    await running?.stop('SIGKILL');
    running = undefined;
  });

  it('DATABASE_URL on a closed port: exit 1, names DATABASE_URL and the target, not the password', async () => {
    const port = await closedPort();
    const { code, output } = await failedStart({ ...embedded(), DATABASE_URL: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/test` });
    expect(code).toBe(1);
    expect(output).toMatch(new RegExp(`^tessera: failed to start: DATABASE_URL \\(postgres://postgres@127\\.0\\.0\\.1:${port}/test\\): .*ECONNREFUSED`, 'm'));
    expect(output).not.toContain(PASSWORD);
  });

  it('REDIS_URL naming a database the server does not have (db 99 of 16): exit 1, names REDIS_URL', async () => {
    const { code, output } = await failedStart({ ...embedded(), REDIS_URL: 'redis://127.0.0.1:6379/99' });
    expect(code).toBe(1);
    expect(output).toMatch(/^tessera: failed to start: REDIS_URL \(redis:\/\/127\.0\.0\.1:6379\/99\): .*DB index is out of range/m);
    expect(output).not.toContain('denylist loaded from Redis');
    // Stopped before the database was touched.
    expect(output).not.toContain('database migrated');
  });

  it('REDIS_URL on a closed port: the server starts degraded and the warning names REDIS_URL, not the password', async () => {
    const port = await closedPort();
    running = await startProcess({ env: { ...embedded(), REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${port}/0` }, readyTimeoutMs: 120_000 });
    const warning = running.output().split('\n').find((line) => line.includes('"redis.unreachable"'));
    expect(warning).toBeDefined();
    expect(warning).toContain('REDIS_URL');
    expect(warning).toContain(`redis://127.0.0.1:${port}/0`);
    expect(warning).toContain('ECONNREFUSED');
    expect(running.output()).not.toContain(PASSWORD);
  });

  it('REDIS_SENTINELS on a closed port: the server starts degraded and the warning names REDIS_SENTINELS', async () => {
    const port = await closedPort();
    running = await startProcess({
      env: { ...embedded(), REDIS_SENTINELS: `127.0.0.1:${port}`, REDIS_PASSWORD: PASSWORD, REDIS_SENTINEL_PASSWORD: PASSWORD },
      readyTimeoutMs: 120_000,
    });
    const warning = running.output().split('\n').find((line) => line.includes('"redis.unreachable"'));
    expect(warning).toBeDefined();
    expect(warning).toContain('REDIS_SENTINELS');
    expect(warning).toContain(`127.0.0.1:${port}`);
    expect(running.output()).not.toContain(PASSWORD);
  });

  it('PORT already in use: exit 1 naming PORT, before any migration ran', async () => {
    const { holder, port } = await holdPort();
    try {
      const { code, output } = await failedStart(embedded(), port);
      expect(code).toBe(1);
      expect(output).toMatch(new RegExp(`^tessera: failed to start: PORT \\(127\\.0\\.0\\.1:${port}\\): .*address already in use.*set PORT to a free port`, 'm'));
      expect(output).not.toContain('database migrated');
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('METRICS_PORT already in use: exit 1 naming METRICS_PORT, before any migration ran', async () => {
    const { holder, port } = await holdPort();
    try {
      const { code, output } = await failedStart({ ...embedded(), METRICS_PORT: String(port) });
      expect(code).toBe(1);
      expect(output).toMatch(new RegExp(`^tessera: failed to start: METRICS_PORT \\(127\\.0\\.0\\.1:${port}\\): .*address already in use.*set METRICS_PORT to a free port`, 'm'));
      expect(output).not.toContain('database migrated');
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
