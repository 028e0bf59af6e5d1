// Starts real Tessera processes on real ports, for end-to-end tests: the shared launcher
// (scripts/lib/node-server.ts) with the tests' defaults, and the paths tests run.
import { startNodeServer, type NodeServer, type NodeServerOptions } from '../../../../scripts/lib/node-server.ts';

export { REPO_ROOT, RESOURCE_SERVICE, SERVER_CLI, SERVER_MAIN } from '../../../../scripts/lib/node-script.ts';
export { freePort } from '../../../../scripts/lib/ports.ts';

/** A started server: `url`, `port`, `child`, `output()`, `exited`, `stop(signal)` → exit code. */
export type TesseraProcess = NodeServer;

/**
 * Spawns `node <script>` (default the compiled server; TypeScript through tsx) and waits until
 * `readyPath` (default /healthz) answers 200.
 */
export async function startProcess(options: NodeServerOptions): Promise<TesseraProcess> {
  return startNodeServer({
    ...options,
    env: {
      // No balancer in front: stop() need not wait for the test's idle keep-alive connections
      // (test/e2e/graceful-shutdown.test.ts covers the production default).
      SHUTDOWN_LINGER_MS: '0',
      ...options.env,
    },
  });
}
