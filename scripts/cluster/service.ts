// One child process of the local cluster that can be stopped and started again on the same
// port: a Tessera replica, the resource service or nginx.
import { spawn, type ChildProcess } from 'node:child_process';

export { freePort } from '../lib/ports.ts';

export interface ServiceSpec {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  port: number;
  /** URL that answers 200 once the service is ready. */
  readyUrl: string;
  readyTimeoutMs?: number;
  /** Signal for a graceful stop (nginx: SIGQUIT). */
  stopSignal?: NodeJS.Signals;
  /** Copy the child's output to this stream, each line prefixed with the name. */
  echo?: NodeJS.WritableStream;
}

const MAX_OUTPUT = 256 * 1024;
const STOP_TIMEOUT_MS = 30_000;

export class Service {
  readonly name: string;
  readonly port: number;
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);
  private buffer = '';

  constructor(private readonly spec: ServiceSpec) {
    this.name = spec.name;
    this.port = spec.port;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Everything the process wrote (the last 256 KiB), across restarts. */
  output(): string {
    return this.buffer;
  }

  /** Spawns the process and waits until its ready URL answers 200. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const { spec } = this;
    const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const onData = (d: Buffer) => {
      const text = d.toString();
      this.buffer = (this.buffer + text).slice(-MAX_OUTPUT);
      if (spec.echo) spec.echo.write(text.replace(/^(?=.)/gm, `[${spec.name}] `));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.buffer += `\n${spec.name}: ${err.message}\n`;
        resolve(null);
      });
      child.once('exit', (code) => resolve(code));
    });
    const deadline = Date.now() + (spec.readyTimeoutMs ?? 30_000);
    for (;;) {
      if (!this.running) {
        await this.exited;
        throw new Error(`${spec.name} exited before it was ready:\n${this.buffer.slice(-4000)}`);
      }
      try {
        const res = await fetch(spec.readyUrl, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        await this.exited;
        throw new Error(`${spec.name} not ready in time:\n${this.buffer.slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Sends the graceful stop signal and resolves with the exit code once the process is gone
   * (null if it had to be killed after 30 s, or was not running).
   */
  async stop(signal: NodeJS.Signals = this.spec.stopSignal ?? 'SIGTERM'): Promise<number | null> {
    const child = this.child;
    if (!child || !this.running) return this.exited;
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<null>((resolve) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, STOP_TIMEOUT_MS);
    });
    const code = await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    await this.exited;
    return code;
  }

  /** stop() then start() on the same port; resolves with the exit code of the stop. */
  async restart(): Promise<number | null> {
    const code = await this.stop();
    await this.start();
    return code;
  }

  /** Last resort for cleanup paths: SIGKILL without waiting for a drain. */
  kill(): void {
    if (this.running) this.child?.kill('SIGKILL');
  }
}
