// The Python example service (examples/python-service, stdlib + PyJWT) as a process on loopback,
// for the tests that run it: the shared launcher with the service's command and defaults.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ChildService } from '../../scripts/lib/child-service.ts';
import { REPO_ROOT } from '../../scripts/lib/node-script.ts';
import { freePort } from '../../scripts/lib/ports.ts';

export const PYTHON = '/usr/bin/python3';
export const PYTHON_SERVICE = path.join(REPO_ROOT, 'examples/python-service/server.py');

/** PyJWT present for the system Python? Under CI a missing one fails a suite, elsewhere it skips it. */
export const pythonReady = spawnSync(PYTHON, ['-c', 'import jwt, cryptography'], { encoding: 'utf8' }).status === 0;

export class PythonService extends ChildService {
  readonly url: string;

  /** Not started; `readyPath` answers 200 once it serves (default /readyz). */
  constructor(
    readonly port: number,
    env: Record<string, string>,
    readyPath = '/readyz',
  ) {
    const url = `http://127.0.0.1:${port}`;
    super({
      name: 'python service',
      command: PYTHON,
      args: [PYTHON_SERVICE],
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'WARNING', ...env, HOST: '127.0.0.1', PORT: String(port) },
      ready: `${url}${readyPath}`,
      readyTimeoutMs: 20_000,
    });
    this.url = url;
  }

  override async start(): Promise<void> {
    if (!pythonReady) throw new Error(`${PYTHON} with PyJWT (Debian python3-jwt) is required`);
    await super.start();
  }
}

/** Starts the service on `port` (default a free one) and resolves once it is ready. */
export async function startPythonService(env: Record<string, string>, options: { port?: number; readyPath?: string } = {}): Promise<PythonService> {
  const service = new PythonService(options.port ?? (await freePort()), env, options.readyPath);
  await service.start();
  return service;
}
