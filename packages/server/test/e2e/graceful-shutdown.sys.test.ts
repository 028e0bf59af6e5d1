// SIGTERM on one real Tessera process: the listener closes at once (a balancer retries a
// refused connection elsewhere), the request already in flight still completes, and the
// process exits 0 — or 1 when the drain outlasts SHUTDOWN_TIMEOUT_MS.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, urlWithSchema, type TestDb } from '../helpers/db.ts';
import { PASSWORD, uniqueEmail } from '../helpers/flows.ts';
import { startProcess, type TesseraProcess } from '../helpers/process.ts';

interface SlowRequest {
  /** Sends the rest of the body. */
  finish(): void;
  response: Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>;
}

/** A login whose body arrives in two parts: the request is in flight until finish(). */
async function slowLogin(port: number, email: string): Promise<SlowRequest> {
  const body = Buffer.from(JSON.stringify({ email, password: PASSWORD }));
  const request = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/auth/login',
    headers: { 'content-type': 'application/json', 'content-length': body.length },
  });
  const response = new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    request.once('error', reject);
    request.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.once('error', reject);
    });
  });
  response.catch(() => {}); // observed by the test when it awaits it
  request.flushHeaders();
  request.write(body.subarray(0, 10));
  await new Promise<void>((resolve) => request.once('socket', (s) => (s.connecting ? s.once('connect', () => resolve()) : resolve())));
  return { finish: () => request.end(body.subarray(10)), response };
}

/** Polls until a new connection to `port` is refused (the listener is closed). */
async function untilRefused(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
    } catch (err) {
      if ((err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the listener never closed');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('graceful shutdown of one replica', () => {
  let testDb: TestDb;
  let keysDir: string;
  let env: Record<string, string>;
  let proc: TesseraProcess | undefined;
  const email = uniqueEmail('drain');

  beforeAll(async () => {
    testDb = await createTestDb('postgres');
    keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-drain-keys-'));
    env = { DATABASE_URL: urlWithSchema(testDb.schema!), KEYS_DIR: keysDir, RATE_LIMIT_ENABLED: 'false' };
    const first = await startProcess({ env, readyPath: '/readyz' });
    try {
      const res = await fetch(`${first.url}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: PASSWORD }),
      });
      expect(res.status).toBe(201);
    } finally {
      expect(await first.stop()).toBe(0);
    }
  }, 60_000);

  afterEach(async () => {
    if (proc?.child.exitCode === null) proc.child.kill('SIGKILL');
    await proc?.exited;
    proc = undefined;
  });

  afterAll(async () => {
    await testDb?.drop();
    if (keysDir) fs.rmSync(keysDir, { recursive: true, force: true });
  });

  it('finishes the request in flight, refuses new connections, and exits 0', async () => {
    proc = await startProcess({ env: { ...env, SHUTDOWN_TIMEOUT_MS: '10000', SHUTDOWN_LINGER_MS: '5000' }, readyPath: '/readyz' });
    const login = await slowLogin(proc.port, email);
    await sleep(200); // the headers are parsed: Fastify now waits for the body

    proc.child.kill('SIGTERM');
    await untilRefused(proc.port);
    expect(proc.child.exitCode).toBeNull(); // still draining: it waits for our request

    login.finish();
    const res = await login.response;
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toHaveProperty('access_token');
    // A draining replica closes the connection after answering: nothing idle is left to cut.
    expect(res.headers.connection).toBe('close');
    expect(await proc.exited).toBe(0);
  });

  it('still serves a request sent on an idle keep-alive connection after SIGTERM, then closes it', async () => {
    // What a balancer does: it reuses a pooled connection at any moment. Cutting idle
    // connections at SIGTERM would lose that request; the replica lingers instead.
    proc = await startProcess({ env: { ...env, SHUTDOWN_TIMEOUT_MS: '10000', SHUTDOWN_LINGER_MS: '5000' }, readyPath: '/readyz' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (urlPath: string) =>
      new Promise<{ status: number; connection: string | undefined; socket: unknown }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: proc!.port, path: urlPath, agent }, (res) => {
          res.resume();
          res.once('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, socket: req.socket }));
        });
        req.once('error', reject);
      });
    try {
      const before = await get('/healthz');
      expect(before.connection).toBe('keep-alive');
      proc.child.kill('SIGTERM');
      await untilRefused(proc.port);
      const after = await get('/healthz');
      expect(after.status).toBe(200);
      expect(after.socket).toBe(before.socket); // the same, pooled connection
      expect(after.connection).toBe('close');
      expect(await proc.exited).toBe(0);
    } finally {
      agent.destroy();
    }
  });

  it('exits 1 when the drain outlasts SHUTDOWN_TIMEOUT_MS', async () => {
    proc = await startProcess({ env: { ...env, SHUTDOWN_TIMEOUT_MS: '1500' }, readyPath: '/readyz' });
    const stuck = await slowLogin(proc.port, email);
    await sleep(200);
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(1);
    await expect(stuck.response).rejects.toThrow();
  });

  it('with SHUTDOWN_DELAY_MS, keeps answering (not ready, Connection: close) before it stops accepting', async () => {
    proc = await startProcess({ env: { ...env, SHUTDOWN_DELAY_MS: '2000', SHUTDOWN_TIMEOUT_MS: '10000' }, readyPath: '/readyz' });
    proc.child.kill('SIGTERM');
    let ready: Response | undefined;
    for (let i = 0; i < 100; i++) {
      ready = await fetch(`${proc.url}/readyz`, { signal: AbortSignal.timeout(1_000) });
      if (ready.status === 503) break;
      await ready.arrayBuffer();
      await sleep(10);
    }
    expect(ready?.status).toBe(503);
    expect(await ready!.json()).toMatchObject({ status: 'not_ready', draining: true });
    const live = await fetch(`${proc.url}/healthz`, { signal: AbortSignal.timeout(1_000) });
    expect(live.status).toBe(200);
    expect(live.headers.get('connection')).toBe('close');
    await live.arrayBuffer();
    expect(await proc.exited).toBe(0);
  });
});
