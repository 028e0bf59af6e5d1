// One server process of the lab (a replica, nginx, Redis, a Tomcat): started, waited for,
// SIGKILLed or stopped gracefully, and started again with the same command and port.
import { spawn, type ChildProcess } from 'node:child_process';

export interface ProcSpec {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Resolves true once the process serves (HTTP 200, a TCP PING...). */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
  /** Graceful stop signal (nginx: SIGQUIT). */
  stopSignal?: NodeJS.Signals;
}

const MAX_OUTPUT = 128 * 1024;
const live = new Set<Proc>();

export class Proc {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private buffer = '';

  constructor(readonly spec: ProcSpec) {}

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  output(): string {
    return this.buffer;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const { spec } = this;
    const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(this);
    const keep = (d: Buffer) => {
      this.buffer = (this.buffer + d.toString()).slice(-MAX_OUTPUT);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.buffer += `\n${spec.name}: ${err.message}\n`;
        resolve();
      });
      child.once('exit', () => resolve());
    });
    const deadline = Date.now() + (spec.readyTimeoutMs ?? 60_000);
    for (;;) {
      if (!this.running) {
        await this.exited;
        throw new Error(`${spec.name} exited before it was ready:\n${this.buffer.slice(-4000)}`);
      }
      if (await spec.ready().catch(() => false)) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`${spec.name} not ready in time:\n${this.buffer.slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL, as a crash: no drain, no goodbye to the cluster. Resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.running) this.child?.kill('SIGKILL');
    await this.exited;
    live.delete(this);
  }

  /** SIGKILL without waiting (exit paths). */
  killNow(): void {
    if (this.running) this.child?.kill('SIGKILL');
  }

  /** The graceful stop signal, SIGKILL after `graceMs`. */
  async stop(graceMs = 20_000): Promise<void> {
    const child = this.child;
    if (child && this.running) {
      child.kill(this.spec.stopSignal ?? 'SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    live.delete(this);
  }
}

/** Last resort (an error, Ctrl-C): SIGKILL every process the lab started. */
export function killAllProcs(): void {
  for (const p of live) p.killNow();
  live.clear();
}

/** A ready check: GET `url` answers 200. */
export function httpReady(url: string): () => Promise<boolean> {
  return async () => {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.ok;
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
