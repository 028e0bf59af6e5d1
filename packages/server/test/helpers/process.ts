// Starts real Tessera processes on real ports, for end-to-end tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { nodeArgsFor, REPO_ROOT, SERVER_MAIN } from '../../../../scripts/lib/node-script.ts';
import { freePort } from '../../../../scripts/lib/ports.ts';

export { REPO_ROOT, RESOURCE_SERVICE, SERVER_CLI, SERVER_MAIN } from '../../../../scripts/lib/node-script.ts';
export { freePort } from '../../../../scripts/lib/ports.ts';

export interface TesseraProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Sends a signal and waits for exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  env: Record<string, string>;
  port?: number;
  /** Script to run instead of the compiled server (e.g. the example resource service). */
  script?: string;
  readyPath?: string;
  timeoutMs?: number;
  /** Working directory; default the repository root. */
  cwd?: string;
}

/** Spawns `node <script>` (TypeScript through tsx) and waits until `readyPath` answers 200. */
export async function startProcess(options: StartOptions): Promise<TesseraProcess> {
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, nodeArgsFor(options.script ?? SERVER_MAIN), {
    cwd: options.cwd ?? REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      // No balancer in front: stop() need not wait for the test's idle keep-alive connections
      // (test/e2e/graceful-shutdown.test.ts covers the production default).
      SHUTDOWN_LINGER_MS: '0',
      ...options.env,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let alive = true;
  void exited.then(() => (alive = false));
  for (;;) {
    if (!alive) throw new Error(`process exited before it was ready:\n${output}`);
    try {
      const res = await fetch(`${url}${options.readyPath ?? '/healthz'}`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`process not ready in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    child,
    output: () => output,
    exited,
    async stop(signal = 'SIGTERM') {
      if (alive) child.kill(signal);
      return exited;
    },
  };
}
