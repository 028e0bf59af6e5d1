// Setup file of the unit layer (*.test.ts): unit tests use PGlite and the memory stores and
// start no process. A test that reaches for PostgreSQL, Redis (or a Sentinel) or a child
// process anyway fails at once, naming what it did, instead of hanging on a retry loop or
// passing only on a machine where the service happens to run. Its place is *.int.test.ts or
// *.sys.test.ts.
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import { afterAll, afterEach, beforeAll } from 'vitest';

const portOf = (url: string | undefined, fallback: number): number => {
  try {
    return url ? Number(new URL(url).port) || fallback : fallback;
  } catch {
    return fallback;
  }
};

const FORBIDDEN_PORTS = new Map<number, string>();
for (const [port, service] of [
  [5432, 'PostgreSQL'],
  [6379, 'Redis'],
  [26379, 'Redis Sentinel'],
  [portOf(process.env.DATABASE_URL, 5432), 'DATABASE_URL'],
  [portOf(process.env.REDIS_URL, 6379), 'REDIS_URL'],
] as const) {
  FORBIDDEN_PORTS.set(port, FORBIDDEN_PORTS.has(port) ? `${FORBIDDEN_PORTS.get(port)} or ${service}` : service);
}

function violation(what: string): Error {
  const message = `unit tests (*.test.ts) must not ${what}: use PGlite/memory stores, or rename the file *.int.test.ts (PostgreSQL/Redis) or *.sys.test.ts (processes)`;
  violations.push(message);
  return new Error(message);
}

// Setup files run once per test file, and the unit layer shares its workers between files: patch once.
const GUARDED = Symbol.for('tessera.test.unitGuard');
const g = globalThis as typeof globalThis & { [GUARDED]?: string[] };
const violations: string[] = (g[GUARDED] ??= []);
const firstTime = violations === g[GUARDED] && !(net.Socket.prototype.connect as { guarded?: boolean }).guarded;

type Connect = ((this: net.Socket, ...args: unknown[]) => net.Socket) & { guarded?: boolean };
const realConnect = net.Socket.prototype.connect as unknown as Connect;
if (firstTime) {
  const guardedConnect: Connect = function (this: net.Socket, ...args: unknown[]) {
    const first = args[0];
    const port = typeof first === 'object' && first !== null ? Number((first as { port?: unknown }).port) : Number(first);
    const service = FORBIDDEN_PORTS.get(port);
    if (service) throw violation(`connect to ${service} (port ${port})`);
    return realConnect.apply(this, args);
  };
  guardedConnect.guarded = true;
  (net.Socket.prototype as unknown as { connect: Connect }).connect = guardedConnect;

  for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const) {
    (childProcess as unknown as Record<string, unknown>)[name] = () => {
      throw violation(`start a child process (child_process.${name})`);
    };
  }
  syncBuiltinESMExports();
}

// The error is thrown where the connection or process is attempted; this makes sure the file
// fails even where that error was caught (a reconnect loop, a health check).
function check(): void {
  if (violations.length > 0) throw new Error(violations.splice(0)[0]);
}
beforeAll(() => {
  violations.splice(0); // another file's, already reported there
});
afterEach(check);
afterAll(check);
