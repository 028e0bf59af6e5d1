// A Node script run as an HTTP server on loopback — the compiled Tessera server, the example
// resource service, a benchmark's server — started as users start it (`node <script>`,
// TypeScript through tsx), on a free port unless one is given, ready once `readyPath` answers 200.
import path from 'node:path';
import { ChildService, type ChildServiceSpec } from './child-service.ts';
import { nodeArgsFor, REPO_ROOT, SERVER_MAIN } from './node-script.ts';
import { freePort } from './ports.ts';

export interface NodeServerOptions extends Pick<ChildServiceSpec, 'readyTimeoutMs' | 'pollMs' | 'stopGraceMs' | 'echo'> {
  /** Shown in errors and echoed lines (default: the script's file name). */
  name?: string;
  /** The script (absolute, or relative to `cwd`); default the compiled server. */
  script?: string;
  /** Over the defaults PATH, HOME, LOG_LEVEL=warn; PORT and HOST=127.0.0.1 are always set. */
  env?: Record<string, string>;
  /** Default: a free port. */
  port?: number;
  /** Answers 200 once the server serves (default /healthz). */
  readyPath?: string;
  /** Node flags before the script, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** Working directory (default the repository root). */
  cwd?: string;
}

export class NodeServer extends ChildService {
  readonly url: string;

  constructor(
    readonly port: number,
    options: Omit<NodeServerOptions, 'port'> = {},
  ) {
    const script = options.script ?? SERVER_MAIN;
    const url = `http://127.0.0.1:${port}`;
    const { readyTimeoutMs, pollMs, stopGraceMs, echo } = options;
    super({
      name: options.name ?? path.basename(script),
      command: process.execPath,
      args: [...(options.nodeArgs ?? []), ...nodeArgsFor(script)],
      cwd: options.cwd ?? REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        LOG_LEVEL: 'warn',
        ...options.env,
        HOST: '127.0.0.1',
        PORT: String(port),
      },
      ready: `${url}${options.readyPath ?? '/healthz'}`,
      readyTimeoutMs,
      pollMs,
      stopGraceMs,
      echo,
    });
    this.url = url;
  }
}

/** Starts `script` and resolves once it is ready. */
export async function startNodeServer(options: NodeServerOptions = {}): Promise<NodeServer> {
  const server = new NodeServer(options.port ?? (await freePort()), options);
  await server.start();
  return server;
}
