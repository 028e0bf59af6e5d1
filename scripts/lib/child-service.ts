// One long-running child process that tooling and tests start, wait for, stop and start again:
// the replicas of `npm run cluster` and of the end-to-end tests, the benchmarks' servers, the
// lab's nginx, Redis and Tomcats. Spawning, keeping the output, waiting until it is ready,
// noticing an early exit and stopping it gracefully (SIGKILL if it does not go) live here once.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ChildServiceSpec {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /**
   * When the process serves: a URL that answers 200, or a predicate (a Redis PING, a Tomcat
   * that sees its peers) that start() calls until it resolves true.
   */
  ready: string | (() => Promise<boolean>);
  /** How long start() waits for `ready` before it SIGKILLs the process (60 s). */
  readyTimeoutMs?: number;
  /** How often start() checks `ready` (50 ms). */
  pollMs?: number;
  /** The graceful stop signal (SIGTERM; nginx: SIGQUIT). */
  stopSignal?: NodeJS.Signals;
  /** How long stop() waits after the stop signal before it SIGKILLs (30 s). */
  stopGraceMs?: number;
  /** Copy the process's output to this stream, each line prefixed with the name. */
  echo?: NodeJS.WritableStream;
}

/** Output kept per service, across restarts: enough for a failure message and log assertions. */
const MAX_OUTPUT = 1024 * 1024;
/** Shown in an error when a process does not come up. */
const ERROR_TAIL = 4000;

/** Every service with a running process, for killAllChildServices(). */
const live = new Set<ChildService>();

/** True once GET `url` answers 200 (a refused connection or a slow answer is false). */
export async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

export class ChildService {
  private current: ChildProcess | undefined;
  private alive = false;
  private exitCode: Promise<number | null> = Promise.resolve(null);
  private buffer = '';

  constructor(readonly spec: ChildServiceSpec) {}

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    return this.alive;
  }

  /** The running process's pid; undefined when it is not running. */
  get pid(): number | undefined {
    return this.alive ? this.current?.pid : undefined;
  }

  /** The latest process (running or not), for signals and exit codes a caller manages itself. */
  get child(): ChildProcess {
    if (!this.current) throw new Error(`${this.name} was never started`);
    return this.current;
  }

  /** Resolves with the exit code of the latest process (null: killed by a signal, or never started). */
  get exited(): Promise<number | null> {
    return this.exitCode;
  }

  /** What the process wrote to stdout and stderr (the last MiB), across restarts. */
  output(): string {
    return this.buffer;
  }

  /** Spawns the process and resolves once it is ready; throws with the output's tail if it exits or times out. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const { spec } = this;
    const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.current = child;
    this.alive = true;
    live.add(this);
    const keep = (d: Buffer) => {
      const text = d.toString();
      this.buffer = (this.buffer + text).slice(-MAX_OUTPUT);
      if (spec.echo) spec.echo.write(text.replace(/^(?=.)/gm, `[${spec.name}] `));
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exitCode = new Promise((resolve) => {
      const gone = (code: number | null) => {
        if (this.current === child) {
          this.alive = false;
          live.delete(this);
        }
        resolve(code);
      };
      // A command that cannot be spawned reports an error and never exits.
      child.once('error', (err) => {
        this.buffer += `\n${spec.name}: ${err.message}\n`;
        gone(null);
      });
      child.once('exit', (code) => gone(code));
    });

    const readyUrl = spec.ready;
    const ready = typeof readyUrl === 'string' ? () => httpOk(readyUrl) : readyUrl;
    const deadline = Date.now() + (spec.readyTimeoutMs ?? 60_000);
    for (;;) {
      if (!this.running) {
        await this.exitCode;
        throw new Error(`${spec.name} exited before it was ready:\n${this.buffer.slice(-ERROR_TAIL)}`);
      }
      if (await ready().catch(() => false)) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`${spec.name} not ready in time:\n${this.buffer.slice(-ERROR_TAIL)}`);
      }
      await sleep(spec.pollMs ?? 50);
    }
  }

  /**
   * Sends `signal` (the graceful stop signal by default), SIGKILL after `graceMs`, and resolves
   * with the exit code once the process is gone (null if it was killed by a signal).
   */
  async stop(signal = this.spec.stopSignal ?? 'SIGTERM', graceMs = this.spec.stopGraceMs ?? 30_000): Promise<number | null> {
    const child = this.current;
    if (child && this.running) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await this.exitCode;
      clearTimeout(timer);
    }
    return this.exitCode;
  }

  /** stop() then start() with the same command (and so the same port). Resolves with the exit code of the stop. */
  async restart(): Promise<number | null> {
    const code = await this.stop();
    await this.start();
    return code;
  }

  /** SIGKILL, as a crash: no drain, no goodbye. Resolves once the process is gone. */
  async kill(): Promise<number | null> {
    this.killNow();
    return this.exitCode;
  }

  /** SIGKILL without waiting (exit paths). */
  killNow(): void {
    if (this.running) this.current?.kill('SIGKILL');
  }
}

/** Last resort on an error or Ctrl-C: SIGKILL every process still running, without waiting. */
export function killAllChildServices(): void {
  for (const service of live) service.killNow();
  live.clear();
}

/** For a command that starts services (a bench, the lab): Ctrl-C or SIGTERM SIGKILLs them all and exits 130. */
export function killChildServicesOnInterrupt(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAllChildServices();
      process.exit(130);
    });
  }
}
