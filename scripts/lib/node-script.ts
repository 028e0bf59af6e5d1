// Where the runnable parts of the repository are, and how to run each with node. The
// tests, the benchmarks and `npm run cluster` all start the server from here, as users do:
// compiled JavaScript (`npm run build`), never its TypeScript sources.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The server's entry point as shipped. */
export const SERVER_MAIN = path.join(REPO_ROOT, 'packages/server/dist/main.js');

/** The `tessera` command as shipped. */
export const SERVER_CLI = path.join(REPO_ROOT, 'packages/server/dist/cli/tessera.js');

/** The example resource service (TypeScript, importing @tessera/verifier as a package). */
export const RESOURCE_SERVICE = path.join(REPO_ROOT, 'examples/resource-service/server.mjs');

/** Node arguments that run `script`: JavaScript directly, TypeScript (examples, tools) through tsx. */
export function nodeArgsFor(script: string): string[] {
  return /\.[cm]?ts$/.test(script) ? ['--import', 'tsx', script] : [script];
}
