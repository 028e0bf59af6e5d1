// The Python example service (examples/python-service, stdlib + PyJWT) as a process on loopback,
// for the tests that run it: the shared launcher with the service's command and defaults.
import path from 'node:path';
import { ChildService } from '../../scripts/lib/child-service.ts';
import { REPO_ROOT } from '../../scripts/lib/node-script.ts';
import { freePort } from '../../scripts/lib/ports.ts';
import { PYTHON, pythonJwt } from './requirements.ts';

export { PYTHON };
export const PYTHON_SERVICE = path.join(REPO_ROOT, 'examples/python-service/server.py');


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
    const missing = pythonJwt();
    if (missing) throw new Error(`${missing.reason} — ${missing.remedy}`);
    await super.start();
  }
}

/** Starts the service on `port` (default a free one) and resolves once it is ready. */
export async function startPythonService(env: Record<string, string>, options: { port?: number; readyPath?: string } = {}): Promise<PythonService> {
  const service = new PythonService(options.port ?? (await freePort()), env, options.readyPath);
  await service.start();
  return service;
}
